package api

import (
	"bytes"
	"context"
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
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"
)

// callAs connects to the socket at path from an OS thread whose effective
// uid and gid are uid and gid (the rest of the process stays root), and
// makes one gRPC call over that connection.
func callAs(t *testing.T, path string, uid, gid int) error {
	t.Helper()
	conns := make(chan net.Conn, 1)
	errs := make(chan error, 1)
	go func() {
		// The thread is never unlocked: it dies with this goroutine, and
		// its lowered credentials with it.
		runtime.LockOSThread()
		// Raw syscalls change this thread only (Go's setuid changes all).
		if _, _, e := unix.RawSyscall(unix.SYS_SETRESGID, ^uintptr(0), uintptr(gid), ^uintptr(0)); e != 0 {
			errs <- e
			return
		}
		if _, _, e := unix.RawSyscall(unix.SYS_SETRESUID, ^uintptr(0), uintptr(uid), ^uintptr(0)); e != 0 {
			errs <- e
			return
		}
		c, err := net.Dial("unix", path)
		if err != nil {
			errs <- err
			return
		}
		conns <- c
	}()
	var c net.Conn
	select {
	case err := <-errs:
		t.Fatal(err)
	case c = <-conns:
	}
	// The connection made with those credentials carries the call.
	cc, err := grpc.NewClient("passthrough:///peer", grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithContextDialer(func(context.Context, string) (net.Conn, error) { return c, nil }))
	if err != nil {
		t.Fatal(err)
	}
	defer cc.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, err = healthpb.NewHealthClient(cc).Check(ctx, &healthpb.HealthCheckRequest{})
	return err
}

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

// serveHealth serves gRPC's health service behind the peer credentials
// check, with the API's access options.
func serveHealth(t *testing.T, access Access) (path string, logs *lockedBuffer) {
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
	g := grpc.NewServer(accessOptions()...)
	healthpb.RegisterHealthServer(g, health.NewServer())
	go g.Serve(PeerCredentials(l, access, slog.New(slog.NewTextHandler(logs, nil))))
	t.Cleanup(g.Stop)
	return path, logs
}

func TestPeerCredentials(t *testing.T) {
	const nobody, group = 65534, 4242
	path, logs := serveHealth(t, Access{Group: group})
	if err := callAs(t, path, 0, 0); err != nil {
		t.Errorf("root: %v; want served", err)
	}
	if err := callAs(t, path, nobody, group); err != nil {
		t.Errorf("a member of --api-group: %v; want served", err)
	}
	for i := 0; i < 2; i++ {
		err := callAs(t, path, nobody, nobody)
		if status.Code(err) != codes.PermissionDenied ||
			!strings.Contains(err.Error(), "accepts root and the members of group 4242 (--api-group); this client runs as uid 65534, gid 65534") {
			t.Errorf("uid %d outside the group: %v; want PermissionDenied saying who may connect", nobody, err)
		}
	}
	if n := strings.Count(logs.String(), "API connection refused"); n != 1 {
		t.Errorf("refusals of one uid logged %d times, want once:\n%s", n, logs)
	}
}

func TestRootOnlyWithoutGroup(t *testing.T) {
	path, _ := serveHealth(t, Access{Group: -1})
	if err := callAs(t, path, 65534, 4242); status.Code(err) != codes.PermissionDenied || !strings.Contains(err.Error(), "root only") {
		t.Errorf("without --api-group a non-root client: %v; want PermissionDenied, root only", err)
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
