package harness

import (
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"sync"
	"syscall"

	"golang.org/x/sys/unix"
)

// The harness's long-lived children (podintd, the collector, containerd,
// iperf3 servers) get SIGKILL when the test process dies, so that a killed
// run leaves none behind. The kernel sends that signal (PR_SET_PDEATHSIG)
// when the thread that forked the child exits, not the process: a goroutine
// that ends locked to its OS thread takes the thread with it, and
// bpf/attach's goroutines do so on purpose after moving their thread into
// a namespace. A child forked from a pooled thread that such a goroutine
// later ran on was killed with it: CI saw podintd die so, silently, in the
// middle of a test ("connection reset by peer", then "connection
// refused"). So every such child is forked from one thread that lives as
// long as the process and runs nothing else: the spawner's.

type spawnRequest struct {
	cmd   *exec.Cmd
	netns string // the namespace's path; "" for the process's own
	done  chan error
}

var (
	spawnOnce     sync.Once
	spawnRequests chan spawnRequest
)

// StartTied starts cmd inside the network namespace at netnsPath ("" for
// the test process's own) from the spawner's thread, so that it is killed
// when the test process dies, and not before.
func StartTied(cmd *exec.Cmd, netnsPath string) error {
	spawnOnce.Do(func() {
		spawnRequests = make(chan spawnRequest)
		home := make(chan error)
		go spawner(home)
		if err := <-home; err != nil {
			panic(err)
		}
	})
	done := make(chan error, 1)
	spawnRequests <- spawnRequest{cmd: cmd, netns: netnsPath, done: done}
	return <-done
}

// Start starts cmd inside the namespace, tied to the test process (see
// StartTied).
func (n *NetNS) Start(cmd *exec.Cmd) error { return StartTied(cmd, n.Path) }

// spawner forks every tied child. Its goroutine never returns and never
// unlocks its thread, so the thread lives as long as the process.
func spawner(ready chan<- error) {
	runtime.LockOSThread()
	home, err := os.Open("/proc/thread-self/ns/net")
	ready <- err
	if err != nil {
		return
	}
	for r := range spawnRequests {
		r.done <- spawnIn(home, r)
	}
}

func spawnIn(home *os.File, r spawnRequest) error {
	if r.netns != "" {
		target, err := os.Open(r.netns)
		if err != nil {
			return fmt.Errorf("open network namespace %s: %w", r.netns, err)
		}
		defer target.Close()
		if err := unix.Setns(int(target.Fd()), unix.CLONE_NEWNET); err != nil {
			return fmt.Errorf("enter network namespace %s: %w", r.netns, err)
		}
		defer func() {
			// Later children must not start in this namespace.
			if err := unix.Setns(int(home.Fd()), unix.CLONE_NEWNET); err != nil {
				panic(fmt.Sprintf("spawner: return from network namespace %s: %v", r.netns, err))
			}
		}()
	}
	if r.cmd.SysProcAttr == nil {
		r.cmd.SysProcAttr = &syscall.SysProcAttr{}
	}
	r.cmd.SysProcAttr.Pdeathsig = syscall.SIGKILL
	return r.cmd.Start()
}
