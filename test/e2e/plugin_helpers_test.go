package e2e

import (
	"context"
	"errors"
	"io"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"testing"

	"github.com/containernetworking/cni/pkg/types"

	"github.com/podint/podint/bpf/attach"
	"github.com/podint/podint/bpf/pins"
	podintv1 "github.com/podint/podint/proto/podint/v1"
	"github.com/podint/podint/test/harness"
)

// newIdleNode is a node whose daemon is not started: the plugin alone.
func newIdleNode(t *testing.T, cfg harness.NodeConfig) *harness.Node {
	t.Helper()
	requireRoot(t)
	if cfg.Name == "" {
		cfg.Name = "n1"
	}
	if cfg.Subnet == "" {
		cfg.Subnet = "10.22.0.0/24"
	}
	cfg.BinDir = binDir
	n, err := harness.NewNode(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { n.Close() })
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("podintd log:\n%s", n.DaemonLog())
			t.Logf("plugin stderr:\n%s", n.PluginLog())
		}
	})
	return n
}

// cniCode is the CNI error code err carries, 0 when it carries none.
func cniErrCode(err error) uint {
	var e *types.Error
	if errors.As(err, &e) {
		return e.Code
	}
	return 0
}

func podProbeID(p *harness.Pod) string { return pins.ProbeID(p.ContainerID, harness.PodIfName) }

// hostIfindex is the pod's host veth's ifindex.
func vethIndex(t *testing.T, p *harness.Pod) int {
	t.Helper()
	v, err := p.HostVeth()
	if err != nil {
		t.Fatal(err)
	}
	return v.Attrs().Index
}

// expectProbe checks the pod's probe hooks both directions of ifindex in
// mode, and nothing of the other mode is there.
func expectProbe(t *testing.T, n *harness.Node, p *harness.Pod, ifindex int, mode attach.Mode) {
	t.Helper()
	tcxIn, tcxEg, err := n.TCXPrograms(ifindex)
	if err != nil {
		t.Fatal(err)
	}
	tcIn, tcEg, err := n.TCProbeFilters(ifindex)
	if err != nil {
		t.Fatal(err)
	}
	want := [4]int{1, 1, 0, 0} // TCX ingress, egress; tc ingress, egress
	if mode == attach.TC {
		want = [4]int{0, 0, 1, 1}
	}
	if got := [4]int{tcxIn, tcxEg, tcIn, tcEg}; got != want {
		t.Errorf("pod %s, ifindex %d: TCX programs in/out and tc filters in/out %v, want %v (%s)", p.Name, ifindex, got, want, mode)
	}
	if got := attach.PinnedMode(n.Paths.PinDir, podProbeID(p)); got != mode {
		t.Errorf("pod %s: pinned probe mode %q, want %q", p.Name, got, mode)
	}
}

// expectNoProbe checks nothing of the pod's probe is left: pins, pending
// registration, and hooks on ifindex when it is not 0.
func expectNoProbe(t *testing.T, n *harness.Node, p *harness.Pod, ifindex int) {
	t.Helper()
	if _, err := os.Stat(pins.LinkDir(n.Paths.PinDir, podProbeID(p))); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("pod %s: probe pins remain (%v)", p.Name, err)
	}
	if _, err := os.Stat(pendingPath(n, p)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("pod %s: pending registration remains (%v)", p.Name, err)
	}
	if ifindex == 0 {
		return
	}
	tcxIn, tcxEg, _ := n.TCXPrograms(ifindex)
	tcIn, tcEg, _ := n.TCProbeFilters(ifindex)
	if tcxIn+tcxEg+tcIn+tcEg != 0 {
		t.Errorf("pod %s: %d TCX programs and %d tc filters remain on ifindex %d", p.Name, tcxIn+tcxEg, tcIn+tcEg, ifindex)
	}
}

// pendingPath is where the plugin leaves a registration podintd could not take.
func pendingPath(n *harness.Node, p *harness.Pod) string {
	return filepath.Join(n.Paths.PendingDir, podProbeID(p)+".json")
}

// registration is the daemon's probe of the pod, nil when it has none.
func registration(t *testing.T, ctx context.Context, n *harness.Node, p *harness.Pod) *podintv1.Probe {
	t.Helper()
	c, closeFn, err := n.Client()
	if err != nil {
		t.Fatal(err)
	}
	defer closeFn()
	for _, pr := range listProbes(t, ctx, c) {
		if pr.GetPod().GetContainerId() == p.ContainerID {
			return pr
		}
	}
	return nil
}

// echoTCP connects from a to b:port, exchanges a few bytes and returns the
// client's port.
func echoTCP(t *testing.T, a, b *harness.Pod, port int) uint16 {
	t.Helper()
	l, err := b.ListenTCP(port)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	go func() {
		c, err := l.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		_, _ = io.Copy(c, c)
	}()
	c, err := a.DialTCP(testContext(t), netip.AddrPortFrom(b.IP, uint16(port)).String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.Write([]byte("hello podint")); err != nil {
		t.Fatal(err)
	}
	if _, err := io.ReadFull(c, make([]byte, 12)); err != nil {
		t.Fatal(err)
	}
	return uint16(c.LocalAddr().(*net.TCPAddr).Port)
}
