package harness

import (
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// A shim of a containerd whose socket is under the dir is killed with the
// processes it runs; one serving another containerd is left alone.
func TestKillShimsUnder(t *testing.T) {
	dir := t.TempDir()
	shim := func(address string) *exec.Cmd {
		// argv[0] and "-address <socket>" as containerd starts its shims; sh
		// runs a child, standing in for the container's process.
		cmd := &exec.Cmd{Path: "/bin/sh", Args: []string{"containerd-shim-runc-v2", "-c", "sleep 300; :", "-address", address}}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
		return cmd
	}
	ours := shim(filepath.Join(dir, "containerd.sock"))
	other := shim(filepath.Join(t.TempDir(), "containerd.sock"))
	var child int
	for child == 0 { // the shim's child has started
		child = childOf(ours.Process.Pid)
		time.Sleep(10 * time.Millisecond)
	}

	KillShimsUnder(dir)
	if err := ours.Wait(); err == nil || !strings.Contains(err.Error(), "killed") {
		t.Errorf("the shim under %s: %v, want killed", dir, err)
	}
	for deadline := time.Now().Add(30 * time.Second); processAlive(child) && !zombie(child); {
		if time.Now().After(deadline) {
			t.Fatal("the process the shim ran survived it")
		}
		time.Sleep(10 * time.Millisecond) // SIGKILL is delivered, not yet acted on
	}
	if !processAlive(other.Process.Pid) {
		t.Error("the shim of another containerd was killed")
	}
}

func childOf(pid int) int {
	b, _ := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "task", strconv.Itoa(pid), "children"))
	f := strings.Fields(string(b))
	if len(f) == 0 {
		return 0
	}
	n, _ := strconv.Atoi(f[0])
	return n
}

func zombie(pid int) bool {
	b, _ := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "stat"))
	i := strings.LastIndexByte(string(b), ')')
	return i > 0 && strings.HasPrefix(strings.TrimSpace(string(b[i+1:])), "Z")
}
