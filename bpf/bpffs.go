package bpf

import (
	"fmt"
	"os"

	"golang.org/x/sys/unix"
)

// EnsureBPFFS makes dir (or the directory it lives in) a bpffs. When no
// bpffs is mounted at or above dir, one is mounted on dir itself, as
// Cilium does, since nodes do not always mount /sys/fs/bpf at boot.
func EnsureBPFFS(dir string) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("create bpffs directory %s: %w", dir, err)
	}
	if ok, err := IsBPFFS(dir); err != nil {
		return err
	} else if ok {
		return nil
	}
	if err := unix.Mount("bpffs", dir, "bpf", 0, "mode=0700"); err != nil {
		return fmt.Errorf("mount bpffs on %s (needs CAP_SYS_ADMIN, or mount it beforehand): %w", dir, err)
	}
	return nil
}

// IsBPFFS reports whether path lies on a bpffs.
func IsBPFFS(path string) (bool, error) {
	var st unix.Statfs_t
	if err := unix.Statfs(path, &st); err != nil {
		return false, fmt.Errorf("statfs %s: %w", path, err)
	}
	return st.Type == unix.BPF_FS_MAGIC, nil
}
