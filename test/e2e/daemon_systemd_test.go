package e2e

import (
	"bytes"
	"context"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/podint/podint/internal/apiclient"
	podintv1 "github.com/podint/podint/proto/podint/v1"
	"github.com/podint/podint/test/harness"
	"github.com/podint/podint/test/tools"
)

// Under systemd, podintd serves the socket systemd passes (socket
// activation, as podintd.socket does) and says READY=1 when it serves and
// STOPPING=1 when it stops. systemd-socket-activate stands in for systemd:
// it opens the socket and starts podintd on the first connection.
func TestSystemdSocketActivationAndNotify(t *testing.T) {
	activate, err := exec.LookPath("systemd-socket-activate")
	if err != nil {
		t.Fatal(tools.Need("systemd-socket-activate"))
	}
	n := newBareNode(t, harness.NodeConfig{})
	ctx := testContext(t)
	notifyPath := filepath.Join(n.Paths.Root, "notify.sock")
	notify, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: notifyPath, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	defer notify.Close()
	states := make(chan string, 16)
	go func() {
		buf := make([]byte, 4096)
		for {
			k, err := notify.Read(buf)
			if err != nil {
				close(states)
				return
			}
			states <- string(buf[:k])
		}
	}()
	if err := os.MkdirAll(filepath.Dir(n.Paths.Socket), 0o755); err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	cmd := exec.Command(activate, "-l", n.Paths.Socket, "-E", "NOTIFY_SOCKET="+notifyPath,
		filepath.Join(binDir, "podintd"), "--root", n.Paths.Root, "--switch-id", "10.0.0.1", "--node-name", "sd")
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := n.NS.Start(cmd); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	defer func() {
		cmd.Process.Kill()
		if t.Failed() {
			t.Logf("podintd output:\n%s", out.String())
		}
	}()

	// The first connection starts podintd, which answers on the same socket.
	c, closeFn, err := apiclient.Dial(n.Paths.Socket)
	if err != nil {
		t.Fatal(err)
	}
	defer closeFn()
	cctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	if _, err := c.ListProbes(cctx, &podintv1.ListProbesRequest{}, grpcWaitForReady()); err != nil {
		t.Fatalf("no answer on the socket systemd passed: %v", err)
	}
	expectState(t, ctx, states, "READY=1")
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	expectState(t, ctx, states, "STOPPING=1")
	select {
	case err := <-exited:
		if err != nil {
			t.Errorf("podintd exit after SIGTERM: %v", err)
		}
	case <-ctx.Done():
		t.Fatal("podintd did not exit after SIGTERM")
	}
	if !strings.Contains(out.String(), "API socket passed by systemd") {
		t.Error("podintd did not say it serves the socket systemd passed")
	}
}

func expectState(t *testing.T, ctx context.Context, states <-chan string, want string) {
	t.Helper()
	for {
		select {
		case s, ok := <-states:
			if !ok {
				t.Fatalf("notify socket closed before %s", want)
			}
			if strings.Contains(s, want) {
				return
			}
		case <-ctx.Done():
			t.Fatalf("podintd never notified %s", want)
		}
	}
}
