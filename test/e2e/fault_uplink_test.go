package e2e

import (
	"os/exec"
	"testing"

	podintv1 "github.com/podint/podint/proto/podint/v1"
	"github.com/podint/podint/test/harness"
)

// An uplink that disappears under a running daemon degrades it (no uplink
// reports) but never stops or hangs it: the API keeps answering and pods
// still get probes.
func TestUplinkDisappearingLeavesTheDaemonServing(t *testing.T) {
	c, _ := startCluster(t, false)
	ctx := testContext(t)
	n1 := c.Nodes[0]
	if err := n1.NS.Do(func() error { return exec.Command("ip", "link", "del", harness.UplinkName).Run() }); err != nil {
		t.Fatal(err)
	}
	cl, closeFn, err := n1.Client()
	if err != nil {
		t.Fatal(err)
	}
	defer closeFn()
	if _, err := cl.Stats(ctx, &podintv1.StatsRequest{}); err != nil {
		t.Fatalf("daemon stopped answering after its uplink went away: %v", err)
	}
	p := addPod(t, n1, "after")
	veth, err := p.HostVeth()
	if err != nil {
		t.Fatal(err)
	}
	if in, eg, err := n1.TCXPrograms(veth.Attrs().Index); err != nil || in != 1 || eg != 1 {
		t.Fatalf("a pod added after the uplink went away has %d+%d programs (err %v)", in, eg, err)
	}
	if n1.DaemonPID() == 0 {
		t.Fatal("daemon exited")
	}
}
