package install

import (
	"fmt"
	"os"

	"golang.org/x/sys/unix"
)

// MountBPFFS mounts a BPF file system on dir unless one is there already, and
// reports whether it mounted. Pins live on the host's bpffs so that the
// plugin (run by the runtime on the host) and the daemon (in its container)
// see the same programs; hosts whose init system does not mount
// /sys/fs/bpf get it from here, through a mount that propagates to the host.
func MountBPFFS(dir string) (bool, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return false, fmt.Errorf("bpffs mount point: %w", err)
	}
	var st unix.Statfs_t
	if err := unix.Statfs(dir, &st); err != nil {
		return false, fmt.Errorf("bpffs mount point %s: %w", dir, err)
	}
	if st.Type == unix.BPF_FS_MAGIC {
		return false, nil
	}
	if err := unix.Mount("bpffs", dir, "bpf", 0, "mode=0700"); err != nil {
		return false, fmt.Errorf("mounting bpffs on %s: %w; the container needs CAP_SYS_ADMIN (privileged, for mount propagation to the host)", dir, err)
	}
	return true, nil
}
