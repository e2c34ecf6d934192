package harness

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
)

// KillShimsUnder kills the containerd shims serving a containerd whose
// socket is under dir, and the containers they run (their descendants):
// shims outlive containerd by design, so a test run killed before it
// removed its pods leaves them. Only processes whose command line names a
// socket under dir are touched.
func KillShimsUnder(dir string) {
	parent := map[int]int{}
	var shims []int
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if stat, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat")); err == nil {
			// pid (comm) state ppid ...: comm may hold spaces, so after the last ')'.
			if i := strings.LastIndexByte(string(stat), ')'); i > 0 {
				if f := strings.Fields(string(stat[i+1:])); len(f) > 1 {
					parent[pid], _ = strconv.Atoi(f[1])
				}
			}
		}
		b, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if err != nil {
			continue
		}
		args := strings.Split(string(b), "\x00")
		if !strings.HasPrefix(filepath.Base(args[0]), "containerd-shim") {
			continue
		}
		for i := 0; i+1 < len(args); i++ {
			if args[i] == "-address" && strings.HasPrefix(args[i+1], dir+"/") {
				shims = append(shims, pid)
			}
		}
	}
	doomed := map[int]bool{}
	for _, s := range shims {
		doomed[s] = true
	}
	for changed := true; changed; { // descendants of the shims
		changed = false
		for pid, ppid := range parent {
			if !doomed[pid] && doomed[ppid] {
				doomed[pid], changed = true, true
			}
		}
	}
	for pid := range doomed {
		_ = syscall.Kill(pid, syscall.SIGKILL)
	}
}
