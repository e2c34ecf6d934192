// Package bpftest holds what the tests of the probes' Go packages and the
// end-to-end tests share:
// a root check, a private bpffs per test, and what the kernel says of
// programs and their hooks.
package bpftest

import (
	"os"
	"testing"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/link"
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

// ProgramID is the kernel's id of p.
func ProgramID(t testing.TB, p *ebpf.Program) ebpf.ProgramID {
	t.Helper()
	info, err := p.Info()
	if err != nil {
		t.Fatal(err)
	}
	id, _ := info.ID()
	return id
}

// TCXPrograms is the ids of the programs on a TCX hook of ifindex, in the
// order they run.
func TCXPrograms(t testing.TB, ifindex int, at ebpf.AttachType) []ebpf.ProgramID {
	t.Helper()
	res, err := link.QueryPrograms(link.QueryOptions{Target: ifindex, Attach: at})
	if err != nil {
		t.Fatal(err)
	}
	var ids []ebpf.ProgramID
	for _, p := range res.Programs {
		ids = append(ids, p.ID)
	}
	return ids
}

// PinnedMapID is the kernel's id of the map pinned at path.
func PinnedMapID(t testing.TB, path string) ebpf.MapID {
	t.Helper()
	m, err := ebpf.LoadPinnedMap(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	info, err := m.Info()
	if err != nil {
		t.Fatal(err)
	}
	id, _ := info.ID()
	return id
}

// PinnedProgramID is the kernel's id of the program pinned at path.
func PinnedProgramID(t testing.TB, path string) ebpf.ProgramID {
	t.Helper()
	p, err := ebpf.LoadPinnedProgram(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	return ProgramID(t, p)
}

// PinnedLink is what the kernel says of the link pinned at path: its id
// and the program it runs.
func PinnedLink(t testing.TB, path string) *link.Info {
	t.Helper()
	l, err := link.LoadPinnedLink(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	info, err := l.Info()
	if err != nil {
		t.Fatal(err)
	}
	return info
}
