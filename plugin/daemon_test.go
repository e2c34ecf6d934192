package plugin

import (
	"context"
	"errors"
	"fmt"
	"net"
	"path/filepath"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

func TestDaemonUnreachableTellsDownFromRefused(t *testing.T) {
	for _, tc := range []struct {
		err  error
		down bool
	}{
		{fmt.Errorf("%w: no socket", errDaemonDown), true},
		{status.Error(codes.Unavailable, "connection refused"), true},
		{status.Error(codes.DeadlineExceeded, "slow"), true},
		{fmt.Errorf("register: %w", context.DeadlineExceeded), true},
		{status.Error(codes.InvalidArgument, "probe has no ifindex"), false},
		{errors.New("something else"), false},
	} {
		if got := daemonUnreachable(tc.err); got != tc.down {
			t.Errorf("%v: unreachable %v, want %v", tc.err, got, tc.down)
		}
	}
}

func TestDialDaemonWithoutSocketFailsAtOnce(t *testing.T) {
	_, err := dialDaemon(filepath.Join(t.TempDir(), "podint.sock"))
	if !errors.Is(err, errDaemonDown) {
		t.Fatalf("dial without a socket: %v, want errDaemonDown", err)
	}
}

func TestStaleSocketIsUnreachable(t *testing.T) {
	// A socket file whose daemon died: nothing listens.
	path := filepath.Join(t.TempDir(), "podint.sock")
	l, err := net.Listen("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	l.(*net.UnixListener).SetUnlinkOnClose(false)
	l.Close()
	err = withDaemon(path, func(d *daemonConn) error { return d.unregister("c", "eth0") })
	if err == nil || !daemonUnreachable(err) {
		t.Fatalf("call to a dead daemon: %v, want unreachable", err)
	}
}

func TestHungDaemonIsUnreachable(t *testing.T) {
	// Accepts connections and never answers.
	path := filepath.Join(t.TempDir(), "podint.sock")
	l, err := net.Listen("unix", path)
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
	err = withDaemon(path, func(d *daemonConn) error { _, err := d.probes(); return err })
	if err == nil || !daemonUnreachable(err) {
		t.Fatalf("call to a hung daemon: %v, want unreachable", err)
	}
}
