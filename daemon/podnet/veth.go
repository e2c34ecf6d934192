// Package podnet checks what the daemon is told about pod networking
// against the kernel: that a registered port is a veth whose peer is the
// pod's interface inside the pod's network namespace.
package podnet

import (
	"errors"
	"fmt"

	"github.com/containernetworking/plugins/pkg/ns"
	"github.com/vishvananda/netlink"
)

// PodVeth is a verified pod port.
type PodVeth struct {
	HostIfindex int
	HostName    string
	PodMAC      string // the pod interface's MAC address
}

// ErrGone says the host interface no longer exists.
var ErrGone = errors.New("no such interface in the node's network namespace")

// VerifyPodVeth checks, from the caller's network namespace (the node's),
// that ifindex is a veth named hostIf (when hostIf is not empty) whose peer
// is the interface podIf inside the network namespace at netnsPath.
func VerifyPodVeth(ifindex int, hostIf, netnsPath, podIf string) (PodVeth, error) {
	host, err := netlink.LinkByIndex(ifindex)
	if err != nil {
		return PodVeth{}, fmt.Errorf("ifindex %d: %w", ifindex, ErrGone)
	}
	v := PodVeth{HostIfindex: ifindex, HostName: host.Attrs().Name}
	if hostIf != "" && hostIf != v.HostName {
		return v, fmt.Errorf("ifindex %d is %s, not host_interface %s", ifindex, v.HostName, hostIf)
	}
	veth, ok := host.(*netlink.Veth)
	if !ok {
		return v, fmt.Errorf("ifindex %d (%s) is a %s, not a veth: podint probes pod veths only", ifindex, v.HostName, host.Type())
	}
	peer, err := netlink.VethPeerIndex(veth)
	if err != nil {
		return v, fmt.Errorf("find the peer of %s: %w", v.HostName, err)
	}
	if netnsPath == "" {
		return v, errors.New("pod netns is empty: give the path of the pod's network namespace")
	}
	podNS, err := ns.GetNS(netnsPath)
	if err != nil {
		return v, fmt.Errorf("pod netns %q cannot be opened: %w", netnsPath, err)
	}
	defer podNS.Close()
	err = podNS.Do(func(ns.NetNS) error {
		l, err := netlink.LinkByName(podIf)
		if err != nil {
			return fmt.Errorf("pod interface %s not found in netns %s: %w", podIf, netnsPath, err)
		}
		if l.Attrs().Index != peer {
			return fmt.Errorf("%s's peer is ifindex %d, but %s in netns %s is ifindex %d: the veth belongs to another pod",
				v.HostName, peer, podIf, netnsPath, l.Attrs().Index)
		}
		// An ifindex is only unique within a namespace: the pod side must
		// point back at this very veth.
		pv, ok := l.(*netlink.Veth)
		if !ok {
			return fmt.Errorf("pod interface %s in netns %s is a %s, not a veth", podIf, netnsPath, l.Type())
		}
		back, err := netlink.VethPeerIndex(pv)
		if err != nil || back != ifindex {
			if err != nil {
				return fmt.Errorf("find the peer of pod interface %s in netns %s: %w", podIf, netnsPath, err)
			}
			return fmt.Errorf("pod interface %s in netns %s pairs with ifindex %d, not %d: the veth belongs to another pod",
				podIf, netnsPath, back, ifindex)
		}
		v.PodMAC = l.Attrs().HardwareAddr.String()
		return nil
	})
	return v, err
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
