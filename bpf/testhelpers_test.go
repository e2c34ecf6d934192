package bpf

import (
	"os"
	"testing"

	"golang.org/x/sys/unix"
)

// requireRoot skips tests that load programs when not privileged.
func requireRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root (CAP_BPF, CAP_NET_ADMIN, CAP_SYS_ADMIN) to load probes")
	}
}

// tempPinDir mounts a private bpffs for one test and removes it afterwards.
func tempPinDir(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	if err := unix.Mount("bpffs", dir, "bpf", 0, "mode=0700"); err != nil {
		t.Fatalf("mount bpffs on %s: %v", dir, err)
	}
	t.Cleanup(func() { _ = unix.Unmount(dir, unix.MNT_DETACH) })
	return dir + "/podint"
}

func loadForTest(t *testing.T) *Probes {
	t.Helper()
	requireRoot(t)
	p, err := Load(tempPinDir(t), DefaultSettings)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	return p
}
