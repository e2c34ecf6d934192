// Package podnet checks what the daemon is told about pod networking
// against the kernel: that a registered port is a veth whose peer is the
// pod's interface inside the pod's network namespace.
package podnet

import (
	"fmt"

	"github.com/vishvananda/netlink"

	"github.com/podint/podint/internal/podveth"
)

// PodVeth is a verified pod port.
type PodVeth struct {
	HostIfindex int
	HostName    string
	PodMAC      string // the pod interface's MAC address
}

// ErrGone says the host interface no longer exists.
var ErrGone = podveth.ErrGone

// VerifyPodVeth checks, from the caller's network namespace (the node's),
// that ifindex is a veth named hostIf (when hostIf is not empty) whose peer
// is the interface podIf inside the network namespace at netnsPath.
func VerifyPodVeth(ifindex int, hostIf, netnsPath, podIf string) (PodVeth, error) {
	p, err := podveth.Verify(ifindex, hostIf, netnsPath, podIf)
	if err != nil {
		return PodVeth{}, err
	}
	return PodVeth{HostIfindex: ifindex, HostName: p.HostName, PodMAC: p.PodMAC}, nil
}

// HostVeth describes a host interface found by ifindex, for a probe whose
// registration was lost: a veth still there, its name.
func HostVeth(ifindex int) (name string, err error) {
	l, err := netlink.LinkByIndex(ifindex)
	if err != nil {
		return "", fmt.Errorf("ifindex %d: %w", ifindex, ErrGone)
	}
	if _, ok := l.(*netlink.Veth); !ok {
		return l.Attrs().Name, fmt.Errorf("ifindex %d (%s) is a %s, not a veth", ifindex, l.Attrs().Name, l.Type())
	}
	return l.Attrs().Name, nil
}

// Exists reports whether ifindex is an interface named name.
func Exists(ifindex int, name string) bool {
	l, err := netlink.LinkByIndex(ifindex)
	return err == nil && (name == "" || l.Attrs().Name == name)
}
