package api

import (
	"bytes"
	"errors"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// dialAs connects to the socket at path from an OS thread whose effective
// uid and gid are uid and gid (the rest of the process stays root), and
// returns what the server sent before closing, or the error.
func dialAs(t *testing.T, path string, uid, gid int) (string, error) {
	t.Helper()
	type result struct {
		data string
		err  error
	}
	res := make(chan result, 1)
	go func() {
		// The thread is never unlocked: it dies with this goroutine, and
		// its lowered credentials with it.
		runtime.LockOSThread()
		// Raw syscalls change this thread only (Go's setuid changes all).
		if _, _, e := unix.RawSyscall(unix.SYS_SETRESGID, ^uintptr(0), uintptr(gid), ^uintptr(0)); e != 0 {
			res <- result{err: e}
			return
		}
		if _, _, e := unix.RawSyscall(unix.SYS_SETRESUID, ^uintptr(0), uintptr(uid), ^uintptr(0)); e != 0 {
			res <- result{err: e}
			return
		}
		c, err := net.Dial("unix", path)
		if err != nil {
			res <- result{err: err}
			return
		}
		defer c.Close()
		_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
		b, err := io.ReadAll(c)
		res <- result{data: string(b), err: err}
	}()
	r := <-res
	return r.data, r.err
}

// serveHello accepts through the peer credentials check and greets every
// connection it lets through.
// lockedBuffer is a log written by the server and read by the test.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func serveHello(t *testing.T, access Access) (path string, logs *lockedBuffer) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root to connect with other credentials")
	}
	dir := t.TempDir()
	for _, d := range []string{filepath.Dir(dir), dir} { // the test's temporary directories are 0700
		if err := os.Chmod(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	path = filepath.Join(dir, "api.sock")
	l, err := net.Listen("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	// Open to all, so that only the credentials check can refuse.
	if err := os.Chmod(path, 0o777); err != nil {
		t.Fatal(err)
	}
	logs = &lockedBuffer{}
	pl := PeerCredentials(l, access, slog.New(slog.NewTextHandler(logs, nil)))
	t.Cleanup(func() { pl.Close() })
	go func() {
		for {
			c, err := pl.Accept()
			if err != nil {
				return
			}
			c.Write([]byte("hello"))
			c.Close()
		}
	}()
	return path, logs
}

func TestPeerCredentials(t *testing.T) {
	const nobody, group = 65534, 4242
	path, logs := serveHello(t, Access{Group: group})
	if got, err := dialAs(t, path, 0, 0); err != nil || got != "hello" {
		t.Errorf("root: got %q, %v; want served", got, err)
	}
	if got, err := dialAs(t, path, nobody, group); err != nil || got != "hello" {
		t.Errorf("a member of --api-group: got %q, %v; want served", got, err)
	}
	for i := 0; i < 2; i++ {
		got, err := dialAs(t, path, nobody, nobody)
		if got != "" || (err != nil && !errors.Is(err, unix.ECONNRESET)) {
			t.Errorf("uid %d outside the group: got %q, %v; want the connection closed unserved", nobody, got, err)
		}
	}
	if n := strings.Count(logs.String(), "API connection refused"); n != 1 {
		t.Errorf("refusals of one uid logged %d times, want once:\n%s", n, logs)
	}
}

func TestRootOnlyWithoutGroup(t *testing.T) {
	path, _ := serveHello(t, Access{Group: -1})
	if got, _ := dialAs(t, path, 65534, 4242); got != "" {
		t.Errorf("without --api-group a non-root client was served: %q", got)
	}
}

// Listen makes the socket root's alone, or its group's too.
func TestListenModes(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to give the socket to a group")
	}
	dir := t.TempDir()
	for _, tc := range []struct {
		group int
		mode  os.FileMode
	}{{-1, 0o600}, {4242, 0o660}} {
		path := filepath.Join(dir, "s.sock")
		l, err := Listen(path, tc.group)
		if err != nil {
			t.Fatal(err)
		}
		var st unix.Stat_t
		if err := unix.Stat(path, &st); err != nil {
			t.Fatal(err)
		}
		if os.FileMode(st.Mode)&os.ModePerm != tc.mode {
			t.Errorf("group %d: socket mode %o, want %o", tc.group, st.Mode&0o777, tc.mode)
		}
		if tc.group >= 0 && int(st.Gid) != tc.group {
			t.Errorf("socket group %d, want %d", st.Gid, tc.group)
		}
		if _, err := Listen(path, tc.group); err == nil || !strings.Contains(err.Error(), "another podintd") {
			t.Errorf("a second daemon on the same socket: %v", err)
		}
		l.Close()
	}
}
