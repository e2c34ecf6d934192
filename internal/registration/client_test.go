package registration

import (
	"context"
	"errors"
	"fmt"
	"net"
	"path/filepath"
	"testing"
	"time"
)

func TestUnreachableTellsDownFromRefused(t *testing.T) {
	for _, tc := range []struct {
		err  error
		down bool
	}{
		{fmt.Errorf("%w: no socket", ErrDaemonDown), true},
		{&Error{Code: "Unavailable", Message: "shutting down"}, true},
		{&Error{Code: "DeadlineExceeded", Message: "slow"}, true},
		{fmt.Errorf("register: %w", context.DeadlineExceeded), true},
		{&Error{Code: "InvalidArgument", Message: "probe has no ifindex"}, false},
		{errors.New("something else"), false},
	} {
		if got := Unreachable(tc.err); got != tc.down {
			t.Errorf("%v: unreachable %v, want %v", tc.err, got, tc.down)
		}
	}
}

func soon() time.Time { return time.Now().Add(500 * time.Millisecond) }

func TestDialWithoutSocketFailsAtOnce(t *testing.T) {
	_, err := Dial(filepath.Join(t.TempDir(), "podint.sock"), soon())
	if !errors.Is(err, ErrDaemonDown) {
		t.Fatalf("dial without a socket: %v, want ErrDaemonDown", err)
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
	_, err = Dial(path, soon())
	if err == nil || !Unreachable(err) {
		t.Fatalf("dial a dead daemon: %v, want unreachable", err)
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
	c, err := Dial(path, soon())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.ListProbes(); err == nil || !Unreachable(err) {
		t.Fatalf("call to a hung daemon: %v, want unreachable", err)
	}
}
