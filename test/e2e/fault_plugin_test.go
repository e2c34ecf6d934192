package e2e

import (
	"context"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/podint/podint/bpf/attach"
	"github.com/podint/podint/bpf/pins"
	"github.com/podint/podint/test/harness"
)

// findProcess returns the pid of a running process whose executable is exe.
func findProcess(exe string) int {
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if p, err := os.Readlink(filepath.Join("/proc", e.Name(), "exe")); err == nil && p == exe {
			return pid
		}
	}
	return 0
}

// TestPluginKilledMidAddThenDelCleansUp kills the podint plugin after it
// attached the probe but before it could register it (the daemon's socket
// accepts and never answers), then runs DEL, as a runtime would.
func TestPluginKilledMidAddThenDelCleansUp(t *testing.T) {
	n := newBareNode(t, harness.NodeConfig{})
	ctx := testContext(t)
	// The daemon pins the programs, then goes away, leaving them.
	if err := n.StartDaemon(ctx); err != nil {
		t.Fatal(err)
	}
	if err := n.StopDaemon(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	// A socket that accepts connections and never answers holds the plugin
	// in its registration call.
	os.Remove(n.Paths.Socket)
	l, err := net.Listen("unix", n.Paths.Socket)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			defer c.Close()
		}
	}()

	p, err := n.NewPod("a")
	if err != nil {
		t.Fatal(err)
	}
	defer p.NS.Delete()
	addDone := make(chan error, 1)
	go func() { addDone <- n.CNIAdd(ctx, p) }()

	exe := filepath.Join(binDir, "podint")
	id := pins.ProbeID(p.ContainerID, harness.PodIfName)
	killed := false
	for !killed {
		select {
		case err := <-addDone:
			t.Fatalf("ADD finished before the plugin could be killed: %v", err)
		case <-ctx.Done():
			t.Fatal("the plugin never attached the probe")
		case <-time.After(5 * time.Millisecond):
		}
		ids, _ := attach.AttachedProbes(n.Paths.PinDir)
		if len(ids) == 1 && ids[0] == id {
			if pid := findProcess(exe); pid != 0 {
				syscall.Kill(pid, syscall.SIGKILL)
				killed = true
			}
		}
	}
	if err := <-addDone; err == nil || !strings.Contains(err.Error(), "signal: killed") {
		t.Logf("ADD after the kill: %v", err)
	}
	veth, err := p.HostVeth()
	if err != nil {
		t.Fatal(err)
	}
	if in, eg, _ := n.TCXPrograms(veth.Attrs().Index); in != 1 || eg != 1 {
		t.Fatalf("the killed ADD left %d+%d programs, want the half-done probe (1+1) to clean up", in, eg)
	}

	// The runtime's DEL for the failed ADD: podint's part, then the rest.
	if err := n.CNIDelPlugin(ctx, p, "podint"); err != nil {
		t.Fatalf("DEL after a killed ADD failed: %v", err)
	}
	if in, eg, err := n.TCXPrograms(veth.Attrs().Index); err != nil || in != 0 || eg != 0 {
		t.Fatalf("after DEL %d+%d programs remain on %s (err %v)", in, eg, veth.Attrs().Name, err)
	}
	if ids, _ := attach.AttachedProbes(n.Paths.PinDir); len(ids) != 0 {
		t.Fatalf("after DEL pins remain: %v", ids)
	}
	if err := n.CNIDel(context.Background(), p); err != nil {
		t.Fatalf("chain DEL: %v", err)
	}
}
