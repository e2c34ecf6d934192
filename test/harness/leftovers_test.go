package harness

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"golang.org/x/sys/unix"
)

// TestRemoveLeftoversOfAKilledRun fakes what a killed run leaves (a
// namespace and an instance root with a bpffs mounted inside, named after a
// process that is gone) and checks that the next run removes both, while a
// live run's things stay.
func TestRemoveLeftoversOfAKilledRun(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root (network namespaces, mounts)")
	}
	dead := exec.Command("true")
	if err := dead.Run(); err != nil {
		t.Fatal(err)
	}
	pid := dead.Process.Pid // exited: no process has this pid now, or soon a new one
	if processAlive(pid) {
		t.Skipf("pid %d was reused already", pid)
	}
	name := fmt.Sprintf("%s%d-lost", Prefix, pid)
	ns, err := newNetNS(name)
	if err != nil {
		t.Fatal(err)
	}
	defer ns.Delete()
	root, err := os.MkdirTemp("", name+"-")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(root)
	bpffs := filepath.Join(root, "sys/fs/bpf")
	os.MkdirAll(bpffs, 0o700)
	if err := unix.Mount("bpffs", bpffs, "bpf", 0, ""); err != nil {
		t.Fatal(err)
	}
	defer unix.Unmount(bpffs, unix.MNT_DETACH)
	live, err := NewNamespace("alive")
	if err != nil {
		t.Fatal(err)
	}
	defer live.Delete()

	RemoveLeftovers()
	if _, err := os.Stat(ns.Path); !os.IsNotExist(err) {
		t.Errorf("the dead run's namespace %s is still there", ns.Path)
	}
	if _, err := os.Stat(root); !os.IsNotExist(err) {
		t.Errorf("the dead run's instance root %s is still there", root)
	}
	if _, err := os.Stat(live.Path); err != nil {
		t.Errorf("a live run's namespace was removed: %v", err)
	}
}
