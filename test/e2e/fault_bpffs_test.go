package e2e

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/podint/podint/internal/apiclient"
	"github.com/podint/podint/internal/bpffs"
	podintv1 "github.com/podint/podint/proto/podint/v1"
	"github.com/podint/podint/test/harness"
)

// privateHost is run by sh inside a private mount namespace before podintd:
// it makes the namespace look like a host that booted without a bpffs
// (/sys/fs/bpf unmounted, whatever the test machine has), and gives the
// instance's socket and state a /run of their own, so that podintd with its
// default root touches nothing of the real host.
const privateHost = `set -e
while umount /sys/fs/bpf 2>/dev/null; do :; done
mount -t tmpfs podint-test-run /run
exec "$0" "$@"`

// podintd with the default root on a host whose /sys/fs/bpf is not
// mounted: it mounts a bpffs there, says so, and its probes work.
func TestDaemonWithDefaultRootMountsSysFsBPF(t *testing.T) {
	n := newBareNode(t, harness.NodeConfig{BPFFS: "none"})
	col, err := harness.NewCollector(n.NS)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { col.Close() })
	cacheDir := t.TempDir() // not the host's CNI cache
	logf, err := os.Create(filepath.Join(t.TempDir(), "podintd.log"))
	if err != nil {
		t.Fatal(err)
	}
	defer logf.Close()
	cmd := exec.Command("unshare", "--mount", "--propagation", "private", "sh", "-c", privateHost,
		filepath.Join(binDir, "podintd"), "--root", "/", "--node-name", "f1", "--switch-id", "10.0.0.1",
		"--collector", col.Addr(), "--cni-cache-dir", cacheDir)
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := n.NS.Start(cmd); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() { cmd.Wait(); close(exited) }()
	t.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(30 * time.Second):
			cmd.Process.Kill()
			<-exited
		}
	})
	daemonLog := func() string { b, _ := os.ReadFile(logf.Name()); return string(b) }

	// The daemon's mount namespace, seen from here.
	root := fmt.Sprintf("/proc/%d/root", cmd.Process.Pid)
	if err := n.UseRoot(root); err != nil {
		t.Fatal(err)
	}
	ctx := testContext(t)
	if err := waitServing(ctx, n.Paths.Socket, exited); err != nil {
		t.Fatalf("%v\npodintd log:\n%s", err, daemonLog())
	}
	if !strings.Contains(daemonLog(), "mounted a bpffs") || !strings.Contains(daemonLog(), "dir=/sys/fs/bpf") {
		t.Errorf("podintd did not log the bpffs it mounted on /sys/fs/bpf:\n%s", daemonLog())
	}
	if ok, err := bpffs.Is(filepath.Join(root, "sys/fs/bpf")); err != nil || !ok {
		t.Fatalf("/sys/fs/bpf in podintd's mount namespace is not a bpffs (%v)", err)
	}
	if ok, _ := bpffs.Is("/sys/fs/bpf/podint"); ok {
		t.Fatal("the bpffs mount leaked into the test's own mount namespace")
	}

	// The probes work: a pod added with the plugin (instance root in the
	// daemon's namespace) gets a probe, and its traffic becomes reports.
	a, b := addPod(t, n, "a"), addPod(t, n, "b")
	va, _ := a.HostVeth()
	vb, _ := b.HostVeth()
	port := echoTCP(t, a, b, 8080)
	expectFlowReport(t, ctx, col, 6, a.IP, b.IP, port, 8080, va.Attrs().Index, vb.Attrs().Index)
}

// waitServing waits until the daemon at socket answers, or exits.
func waitServing(ctx context.Context, socket string, exited <-chan struct{}) error {
	ctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	for {
		c, closeFn, err := apiclient.Dial(socket)
		if err == nil {
			cctx, ccancel := context.WithTimeout(ctx, time.Second)
			_, err = c.ListProbes(cctx, &podintv1.ListProbesRequest{})
			ccancel()
			closeFn()
			if err == nil {
				return nil
			}
		}
		select {
		case <-exited:
			return fmt.Errorf("podintd exited during start")
		case <-ctx.Done():
			return fmt.Errorf("podintd not serving %s: %v", socket, err)
		case <-time.After(50 * time.Millisecond):
		}
	}
}
