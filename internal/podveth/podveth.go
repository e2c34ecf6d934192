// Package podveth finds and checks a pod's veth pair from the node's
// network namespace: the CNI plugin finds the host end of the pod's
// interface, the daemon checks that a registered port is it. Both ask the
// kernel, not a CNI result, so whatever primary plugin made the veth
// (bridge, ptp, Calico, Cilium, ...) and whatever it reported.
package podveth

import (
	"errors"
	"fmt"

	"github.com/containernetworking/plugins/pkg/ns"
	"github.com/vishvananda/netlink"
)

// ErrNotVeth marks a pod interface podint cannot probe (macvlan, ipvlan,
// SR-IOV, ...).
var ErrNotVeth = errors.New("pod interface is not a veth")

// ErrGone says the host interface no longer exists.
var ErrGone = errors.New("no such interface in the node's network namespace")

// Pair is a pod's veth: its host end in the caller's network namespace and
// its pod end inside the pod's.
type Pair struct {
	Host       netlink.Link
	PodIfindex int
	PodMAC     string
}

// Find returns the veth pair of the interface podIf inside netnsPath. The
// host end must be in the caller's network namespace and pair back with
// the pod end: an ifindex is only unique within one namespace.
func Find(netnsPath, podIf string) (Pair, error) {
	podNS, err := ns.GetNS(netnsPath)
	if err != nil {
		return Pair{}, fmt.Errorf("pod netns %q cannot be opened: %w", netnsPath, err)
	}
	defer podNS.Close()

	var p Pair
	var peerIndex int
	err = podNS.Do(func(ns.NetNS) error {
		l, err := netlink.LinkByName(podIf)
		if err != nil {
			return fmt.Errorf("pod interface %s not found in netns %s: %w", podIf, netnsPath, err)
		}
		veth, ok := l.(*netlink.Veth)
		if !ok {
			return fmt.Errorf("%w: %s is a %s", ErrNotVeth, podIf, l.Type())
		}
		p.PodIfindex, p.PodMAC = l.Attrs().Index, l.Attrs().HardwareAddr.String()
		if peerIndex, err = netlink.VethPeerIndex(veth); err != nil {
			return fmt.Errorf("find the veth peer of %s: %w", podIf, err)
		}
		return nil
	})
	if err != nil {
		return Pair{}, err
	}
	host, err := netlink.LinkByIndex(peerIndex)
	if err != nil {
		return Pair{}, fmt.Errorf("the peer of %s (ifindex %d) is not in this network namespace; run in the host's: %w",
			podIf, peerIndex, err)
	}
	hostVeth, ok := host.(*netlink.Veth)
	if !ok {
		return Pair{}, fmt.Errorf("the peer of %s (ifindex %d) is not in this network namespace: ifindex %d here is %s, a %s",
			podIf, peerIndex, peerIndex, host.Attrs().Name, host.Type())
	}
	if back, err := netlink.VethPeerIndex(hostVeth); err != nil || back != p.PodIfindex {
		return Pair{}, fmt.Errorf("the peer of %s (ifindex %d) is not in this network namespace: %s here pairs with ifindex %d (%v)",
			podIf, peerIndex, host.Attrs().Name, back, err)
	}
	p.Host = host
	return p, nil
}

// Verify checks that ifindex, named hostIf when hostIf is not empty, is
// the host end of the veth of podIf inside netnsPath.
func Verify(ifindex int, hostIf, netnsPath, podIf string) (Pair, error) {
	host, err := netlink.LinkByIndex(ifindex)
	if err != nil {
		return Pair{}, fmt.Errorf("ifindex %d: %w", ifindex, ErrGone)
	}
	name := host.Attrs().Name
	if hostIf != "" && hostIf != name {
		return Pair{}, fmt.Errorf("ifindex %d is %s, not host_interface %s", ifindex, name, hostIf)
	}
	if _, ok := host.(*netlink.Veth); !ok {
		return Pair{}, fmt.Errorf("ifindex %d (%s) is a %s, not a veth: podint probes pod veths only", ifindex, name, host.Type())
	}
	if netnsPath == "" {
		return Pair{}, errors.New("pod netns is empty: give the path of the pod's network namespace")
	}
	p, err := Find(netnsPath, podIf)
	if err != nil {
		return Pair{}, err
	}
	if got := p.Host.Attrs().Index; got != ifindex {
		return Pair{}, fmt.Errorf("%s in netns %s pairs with %s (ifindex %d), not %s (%d): the veth belongs to another pod",
			podIf, netnsPath, p.Host.Attrs().Name, got, name, ifindex)
	}
	return p, nil
}
