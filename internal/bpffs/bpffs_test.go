package bpffs

import (
	"os"
	"path/filepath"
	"testing"

	"golang.org/x/sys/unix"
)

func requireRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("mounting a bpffs needs root (CAP_SYS_ADMIN); CI runs as root")
	}
}

func TestMountOnceOnly(t *testing.T) {
	requireRoot(t)
	dir := filepath.Join(t.TempDir(), "bpf")
	t.Cleanup(func() { unix.Unmount(dir, unix.MNT_DETACH) })
	if mounted, err := Mount(dir); err != nil || !mounted {
		t.Fatalf("Mount(%s) = %v, %v; want a new mount", dir, mounted, err)
	}
	if ok, err := Is(dir); err != nil || !ok {
		t.Fatalf("after Mount, Is(%s) = %v, %v", dir, ok, err)
	}
	if mounted, err := Mount(dir); err != nil || mounted {
		t.Fatalf("second Mount = %v, %v; want no second mount on a bpffs", mounted, err)
	}
}

// An instance root whose sys/fs/bpf is no bpffs gets one there, the pin
// directory inside it; a second call mounts nothing more.
func TestEnsureMountsOnThePinDirectorysParent(t *testing.T) {
	requireRoot(t)
	root := t.TempDir()
	bpf := filepath.Join(root, "sys/fs/bpf")
	pinDir := filepath.Join(bpf, "podint")
	t.Cleanup(func() { unix.Unmount(bpf, unix.MNT_DETACH) })
	mounted, err := Ensure(pinDir)
	if err != nil || mounted != bpf {
		t.Fatalf("Ensure(%s) = %q, %v; want a mount on %s", pinDir, mounted, err, bpf)
	}
	if ok, err := Is(pinDir); err != nil || !ok {
		t.Fatalf("pin directory not on a bpffs: %v, %v", ok, err)
	}
	if mounted, err := Ensure(pinDir); err != nil || mounted != "" {
		t.Fatalf("second Ensure = %q, %v; want nothing mounted", mounted, err)
	}
}

func TestIsNamesAMissingPath(t *testing.T) {
	if _, err := Is(filepath.Join(t.TempDir(), "missing")); err == nil {
		t.Fatal("Is of a missing path: no error")
	}
}
