package pins

import (
	"os"
	"path/filepath"
	"testing"
)

// Probe ids are one bpffs path element: bpffs refuses dots, and a slash
// would escape the links directory.
func TestProbeIDsAreOnePathElement(t *testing.T) {
	for _, c := range []struct{ container, ifName, want string }{
		{"abc", "eth0", "abc_eth0"},
		{"a.b/c", "net1.100", "a_b_c_net1_100"},
		{"", "", "___"},
	} {
		if got := ProbeID(c.container, c.ifName); got != c.want {
			t.Errorf("ProbeID(%q, %q) = %q, want %q", c.container, c.ifName, got, c.want)
		}
	}
	if id := UplinkProbeID("eth0.10"); id != "uplink_eth0_10" || !IsUplinkProbeID(id) {
		t.Errorf("UplinkProbeID(eth0.10) = %q", id)
	}
	if IsUplinkProbeID(ProbeID("c", "eth0")) {
		t.Error("a pod probe id is taken for an uplink's")
	}
}

func TestHooksKnowTheirDirection(t *testing.T) {
	for h, egress := range map[Hook]bool{Ingress: false, Egress: true, PodIngress: false, PodEgress: true} {
		if h.IsEgress() != egress {
			t.Errorf("%s.IsEgress() = %v", h, !egress)
		}
	}
}

// Replace never leaves the path empty and leaves no sibling behind, and a
// failed pin keeps what was there.
func TestReplaceSwapsInOneRename(t *testing.T) {
	path := filepath.Join(t.TempDir(), "prog")
	write := func(body string) func(string) error {
		return func(tmp string) error { return os.WriteFile(tmp, []byte(body), 0o600) }
	}
	for _, body := range []string{"old", "new"} {
		if err := Replace(path, write(body)); err != nil {
			t.Fatal(err)
		}
	}
	if err := Replace(path, func(string) error { return os.ErrPermission }); err == nil {
		t.Fatal("a failed pin was not reported")
	}
	if b, _ := os.ReadFile(path); string(b) != "new" {
		t.Errorf("pin holds %q, want new", b)
	}
	if _, err := os.Stat(path + "_new"); !os.IsNotExist(err) {
		t.Errorf("the sibling stays: %v", err)
	}
}
