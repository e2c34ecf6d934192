// Package bpffs prepares the BPF file systems podint pins its programs,
// maps and links in. Many hosts (minimal VMs, containers, nodes whose init
// is not systemd) boot without /sys/fs/bpf mounted; podintd and the
// installer's mount-bpffs container then mount it themselves, as Cilium
// does.
package bpffs

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"golang.org/x/sys/unix"
)

// Is reports whether path lies on a bpffs.
func Is(path string) (bool, error) {
	var st unix.Statfs_t
	if err := unix.Statfs(path, &st); err != nil {
		return false, fmt.Errorf("statfs %s: %w", path, err)
	}
	return st.Type == unix.BPF_FS_MAGIC, nil
}

// Mount mounts a bpffs on dir unless dir lies on one already, creating dir
// first when it is missing, and reports whether it mounted.
func Mount(dir string) (bool, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return false, fmt.Errorf("bpffs mount point %s: %w", dir, err)
	}
	if ok, err := Is(dir); err != nil || ok {
		return false, err
	}
	if err := unix.Mount("bpffs", dir, "bpf", 0, "mode=0700"); err != nil {
		return false, fmt.Errorf("mount bpffs on %s: %w (needs CAP_SYS_ADMIN; or mount it beforehand: mount -t bpf bpffs %s)", dir, err, dir)
	}
	return true, nil
}

// Ensure makes pinDir a directory on a bpffs: when pinDir does not lie on
// one, a bpffs is mounted on pinDir's parent (<root>/sys/fs/bpf for an
// instance's pin directory, where the kernel's sysfs offers the mount point
// and refuses a mkdir). It returns the directory it mounted on, "" when it
// mounted nothing.
func Ensure(pinDir string) (mounted string, err error) {
	on, err := onBPFFS(pinDir)
	if err != nil {
		return "", err
	}
	if !on {
		parent := filepath.Dir(pinDir)
		ok, err := Mount(parent)
		if err != nil {
			return "", err
		}
		if ok {
			mounted = parent
		}
	}
	if err := os.MkdirAll(pinDir, 0o700); err != nil {
		return mounted, fmt.Errorf("create bpffs directory %s: %w", pinDir, err)
	}
	return mounted, nil
}

// onBPFFS reports whether dir, or its nearest existing ancestor, lies on a
// bpffs.
func onBPFFS(dir string) (bool, error) {
	for d := dir; ; d = filepath.Dir(d) {
		ok, err := Is(d)
		if err == nil {
			return ok, nil
		}
		if !errors.Is(err, unix.ENOENT) || d == filepath.Dir(d) {
			return false, err
		}
	}
}
