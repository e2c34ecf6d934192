package bpf

import (
	"os"
	"regexp"
	"strconv"
	"testing"

	"github.com/podint/podint/internal/intreport"
)

// cDefine reads #define name <number> from a C source of the probes.
func cDefine(t *testing.T, file, name string) int {
	t.Helper()
	src, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?m)^#define\s+` + name + `\s+(\d+)\b`).FindSubmatch(src)
	if m == nil {
		t.Fatalf("%s defines no %s", file, name)
	}
	v, _ := strconv.Atoi(string(m[1]))
	return v
}

// The report decoder finds the inner flow of the overlays the probes do:
// the same UDP ports on both sides.
func TestOverlayPortsAreTheProbes(t *testing.T) {
	for name, port := range map[string]int{
		"VXLAN_PORT": intreport.PortVXLAN, "VXLAN_LINUX_PORT": intreport.PortVXLANLinux, "GENEVE_PORT": intreport.PortGeneve,
	} {
		if c := cDefine(t, "c/wire.h", name); c != port {
			t.Errorf("c/wire.h %s is %d, intreport's is %d", name, c, port)
		}
	}
}
