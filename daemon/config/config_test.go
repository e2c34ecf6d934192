package config

import (
	"fmt"
	"strings"
	"testing"

	"github.com/podint/podint/bpf"
	"github.com/podint/podint/daemon/exporter"
)

// The snap length is refused outside what both ends can honour: the
// exporter needs the inner headers, the probes capture at most SNAP_LEN.
func TestSnapLenOutsideWhatTheProbesAndExporterHonourIsRefused(t *testing.T) {
	if exporter.MinSnapLen != 74 || bpf.MaxSnapLen != 256 {
		t.Fatalf("range %d..%d: update this test and the docs (README, docs/int-reports.md)", exporter.MinSnapLen, bpf.MaxSnapLen)
	}
	for _, n := range []int{0, 50, 73, 257, 1500} {
		_, err := Load([]string{"--snap-len", fmt.Sprint(n)})
		want := fmt.Sprintf("snap-len: %d is outside 74..256", n)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("--snap-len %d: error %v, want one saying %q", n, err, want)
		}
	}
	for _, n := range []int{74, 128, 256} {
		c, err := Load([]string{"--snap-len", fmt.Sprint(n)})
		if err != nil || c.SnapLen != n {
			t.Errorf("--snap-len %d: %v (snap-len %d)", n, err, c.SnapLen)
		}
	}
	if c := Default(); c.SnapLen < exporter.MinSnapLen || c.SnapLen > bpf.MaxSnapLen {
		t.Errorf("the default snap length %d is outside the range it must be in", c.SnapLen)
	}
}

func TestDropReasonsAreCheckedAtLoad(t *testing.T) {
	c, err := Load([]string{"--drop-reasons", "-TCP_*,+queue_purge", "--drop-reasons=-NOT_SPECIFIED@multicast"})
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"-TCP_*", "+queue_purge", "-NOT_SPECIFIED@multicast"}; strings.Join(c.DropReasons, " ") != strings.Join(want, " ") {
		t.Errorf("drop-reasons %q, want %q", c.DropReasons, want)
	}
	for _, tc := range []struct{ arg, want string }{
		{"-QUEUE PURGE", `"QUEUE PURGE" is not a kernel drop reason name`},
		{"+NOT_SPECIFIED@multicast", "the only qualifier is @multicast, on an exclusion"},
		{"-NOT_SPECIFIED@unicast", "the only qualifier is @multicast"},
		{"-", "is not a kernel drop reason name"},
	} {
		_, err := Load([]string{"--drop-reasons=" + tc.arg})
		if err == nil || !strings.Contains(err.Error(), "drop-reasons: ") || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("--drop-reasons=%s: error %v, want one saying %q", tc.arg, err, tc.want)
		}
	}
}
