// Package harness builds podint nodes on one machine for end-to-end tests,
// benchmarks and the demo: a node is a network namespace with its own
// instance root and bpffs, pods are network namespaces wired by real CNI
// plugins driven through libcni, and podintd runs inside the node.
package harness

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"

	"github.com/containernetworking/plugins/pkg/ns"
	"golang.org/x/sys/unix"
)

// netnsDir is where iproute2 keeps named network namespaces.
const netnsDir = "/var/run/netns"

// Prefix starts the name of every namespace the harness creates, followed by
// the creating process id, so leftovers of a killed run can be found.
const Prefix = "podint-"

// NetNS is a named network namespace.
type NetNS struct {
	Name string
	Path string
}

func newNetNS(name string) (*NetNS, error) {
	if out, err := exec.Command("ip", "netns", "add", name).CombinedOutput(); err != nil {
		return nil, fmt.Errorf("create netns %s: %v: %s", name, err, out)
	}
	n := &NetNS{Name: name, Path: filepath.Join(netnsDir, name)}
	if err := n.Do(func() error { return run("ip", "link", "set", "lo", "up") }); err != nil {
		n.Delete()
		return nil, err
	}
	return n, nil
}

// Do runs fn on an OS thread inside the namespace; processes started by fn
// run inside it too.
func (n *NetNS) Do(fn func() error) error {
	h, err := ns.GetNS(n.Path)
	if err != nil {
		return fmt.Errorf("open netns %s: %w", n.Name, err)
	}
	defer h.Close()
	return h.Do(func(ns.NetNS) error { return fn() })
}

// Delete removes the namespace and with it every interface inside.
func (n *NetNS) Delete() error {
	if out, err := exec.Command("ip", "netns", "del", n.Name).CombinedOutput(); err != nil {
		if _, statErr := os.Stat(n.Path); os.IsNotExist(statErr) {
			return nil
		}
		return fmt.Errorf("delete netns %s: %v: %s", n.Name, err, out)
	}
	return nil
}

// RemoveLeftovers deletes what harness runs whose process is gone (a run
// killed before it could clean up) left: their namespaces, and their
// instance roots with the bpffs mounted there.
func RemoveLeftovers() {
	ents, _ := os.ReadDir(netnsDir)
	for _, e := range ents {
		if leftover(e.Name()) {
			_ = (&NetNS{Name: e.Name(), Path: filepath.Join(netnsDir, e.Name())}).Delete()
		}
	}
	ents, _ = os.ReadDir(os.TempDir())
	for _, e := range ents {
		if e.IsDir() && leftover(e.Name()) {
			root := filepath.Join(os.TempDir(), e.Name())
			KillShimsUnder(root) // a node whose pods a containerd ran (test/cri)
			unmountUnder(root)
			_ = os.RemoveAll(root)
		}
	}
}

// leftover says whether name is one of the harness's (Prefix + pid + "-")
// and its creating process is gone.
func leftover(name string) bool {
	rest, ok := strings.CutPrefix(name, Prefix)
	if !ok {
		return false
	}
	pidStr, _, _ := strings.Cut(rest, "-")
	pid, err := strconv.Atoi(pidStr)
	return err == nil && !processAlive(pid)
}

// unmountUnder lazily unmounts every mount point below dir, deepest first.
func unmountUnder(dir string) {
	b, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		return
	}
	var points []string
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) > 4 && strings.HasPrefix(f[4], dir+"/") {
			points = append(points, f[4])
		}
	}
	for i := len(points) - 1; i >= 0; i-- {
		_ = unix.Unmount(points[i], unix.MNT_DETACH)
	}
}

func processAlive(pid int) bool {
	return syscall.Kill(pid, 0) == nil
}

func run(name string, args ...string) error {
	if out, err := exec.Command(name, args...).CombinedOutput(); err != nil {
		return fmt.Errorf("%s %s: %v: %s", name, strings.Join(args, " "), err, out)
	}
	return nil
}

// NewNamespace creates a named namespace for a test's own use (a
// collector, a client), removed with Delete or by RemoveLeftovers.
func NewNamespace(name string) (*NetNS, error) {
	return newNetNS(fmt.Sprintf("%s%d-%s", Prefix, os.Getpid(), name))
}
