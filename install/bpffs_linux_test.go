package install

import (
	"os"
	"testing"

	"golang.org/x/sys/unix"
)

func TestMountBPFFS(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("mounting a bpffs needs root (CAP_SYS_ADMIN); CI runs as root")
	}
	dir := t.TempDir()
	mounted, err := MountBPFFS(dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { unix.Unmount(dir, 0) })
	var st unix.Statfs_t
	if err := unix.Statfs(dir, &st); err != nil || st.Type != unix.BPF_FS_MAGIC || !mounted {
		t.Fatalf("after MountBPFFS(%s) = %v: statfs type %#x, %v; want a bpffs", dir, mounted, st.Type, err)
	}
	if mounted, err := MountBPFFS(dir); err != nil || mounted {
		t.Fatalf("second MountBPFFS = %v, %v; want no second mount on a bpffs", mounted, err)
	}
}
