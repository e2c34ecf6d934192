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

// RemoveLeftovers deletes namespaces left by harness runs whose process is
// gone (a run killed before it could clean up).
func RemoveLeftovers() {
	ents, _ := os.ReadDir(netnsDir)
	for _, e := range ents {
		rest, ok := strings.CutPrefix(e.Name(), Prefix)
		if !ok {
			continue
		}
		pidStr, _, _ := strings.Cut(rest, "-")
		pid, err := strconv.Atoi(pidStr)
		if err != nil || processAlive(pid) {
			continue
		}
		_ = (&NetNS{Name: e.Name(), Path: filepath.Join(netnsDir, e.Name())}).Delete()
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
