package harness

import (
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
)

// A tied child lives on while goroutines end locked to their threads (as
// bpf/attach's do), which kills those threads: its parent-death signal
// follows the spawner's thread only. It starts in the namespace asked for,
// and the next child in the process's own.
func TestTiedChildOutlivesEndedThreads(t *testing.T) {
	ns, err := NewNamespace("spawn")
	if err != nil {
		t.Fatal(err)
	}
	defer ns.Delete()
	inNS := exec.Command("sleep", "300")
	if err := ns.Start(inNS); err != nil {
		t.Fatal(err)
	}
	defer func() { inNS.Process.Kill(); inNS.Wait() }()
	atHome := exec.Command("sleep", "300")
	if err := StartTied(atHome, ""); err != nil {
		t.Fatal(err)
	}
	defer func() { atHome.Process.Kill(); atHome.Wait() }()

	if got, want := netnsOf(t, inNS.Process.Pid), inode(t, ns.Path); got != want {
		t.Errorf("child's network namespace %d, want the test namespace's %d", got, want)
	}
	if got, want := netnsOf(t, atHome.Process.Pid), netnsOf(t, os.Getpid()); got != want {
		t.Errorf("second child's network namespace %d, want the process's own %d", got, want)
	}

	// Threads that end: each goroutine exits locked, and the runtime ends
	// its thread. Many, so that pooled threads are among them.
	for round := 0; round < 20; round++ {
		var wg sync.WaitGroup
		for i := 0; i < 2*runtime.GOMAXPROCS(0)+4; i++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				runtime.LockOSThread()
			}()
		}
		wg.Wait()
	}
	// The hazard itself: a child forked from a thread that then ends dies.
	untied := exec.Command("sleep", "300")
	untied.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	started := make(chan error)
	go func() {
		runtime.LockOSThread()
		started <- untied.Start()
	}()
	if err := <-started; err != nil {
		t.Fatal(err)
	}
	if err := untied.Wait(); err == nil || untied.ProcessState.Sys().(syscall.WaitStatus).Signal() != syscall.SIGKILL {
		t.Fatalf("a child whose forking thread ended: %v, want killed by its parent-death signal", err)
	}
	for _, c := range []*exec.Cmd{inNS, atHome} {
		if state := processState(c.Process.Pid); state == "" || state == "Z" {
			t.Errorf("tied child %d is gone after threads ended (state %q)", c.Process.Pid, state)
		}
	}
}

// processState is the state letter of /proc/<pid>/stat ("Z": a zombie),
// "" when there is no such process.
func processState(pid int) string {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return ""
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 || i+2 >= len(s) {
		return ""
	}
	return s[i+2 : i+3]
}

func netnsOf(t *testing.T, pid int) uint64 {
	t.Helper()
	return inode(t, "/proc/"+strconv.Itoa(pid)+"/ns/net")
}

func inode(t *testing.T, path string) uint64 {
	t.Helper()
	var st syscall.Stat_t
	if err := syscall.Stat(path, &st); err != nil {
		t.Fatal(err)
	}
	return st.Ino
}
