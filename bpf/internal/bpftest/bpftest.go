// Package bpftest holds what the tests of the probes' Go packages share:
// a root check and a private bpffs per test.
package bpftest

import (
	"os"
	"testing"

	"golang.org/x/sys/unix"
)

// RequireRoot skips tests that load programs when not privileged.
func RequireRoot(t testing.TB) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root (CAP_BPF, CAP_NET_ADMIN, CAP_SYS_ADMIN) to load probes")
	}
}

// TempPinDir mounts a private bpffs for one test and removes it afterwards;
// it returns the instance pin directory under it.
func TempPinDir(t testing.TB) string {
	t.Helper()
	dir := t.TempDir()
	if err := unix.Mount("bpffs", dir, "bpf", 0, "mode=0700"); err != nil {
		t.Fatalf("mount bpffs on %s: %v", dir, err)
	}
	t.Cleanup(func() { _ = unix.Unmount(dir, unix.MNT_DETACH) })
	return dir + "/podint"
}
