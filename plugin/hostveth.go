package plugin

import (
	"errors"
	"fmt"

	"github.com/containernetworking/plugins/pkg/ns"
	"github.com/vishvananda/netlink"
)

// errNotVeth marks a pod interface podint cannot probe (macvlan, ipvlan,
// SR-IOV, ...): the pod is passed through without a probe.
var errNotVeth = errors.New("pod interface is not a veth")

// podEnd is the pod's end of its veth, as seen inside the pod's netns.
type podEnd struct {
	MAC     string
	Ifindex int
}

// findHostVeth returns the host side of the pod's veth: the peer of the
// container interface ifName inside netnsPath. It asks the kernel, not the
// prevResult, so it works whatever primary plugin made the veth and
// whatever it reported: bridge (bridge and veth), ptp, Calico (cali* without
// a MAC), Cilium (lxc*), AWS VPC CNI (a made-up dummy interface), or no
// host interface at all. It also returns the pod's end of the veth.
func findHostVeth(netnsPath, ifName string) (host netlink.Link, pod podEnd, err error) {
	podNS, err := ns.GetNS(netnsPath)
	if err != nil {
		return nil, podEnd{}, fmt.Errorf("open pod netns %q: %w", netnsPath, err)
	}
	defer podNS.Close()

	var podIndex, peerIndex int
	var podMAC string
	err = podNS.Do(func(ns.NetNS) error {
		l, err := netlink.LinkByName(ifName)
		if err != nil {
			return fmt.Errorf("find %s in pod netns %s: %w", ifName, netnsPath, err)
		}
		veth, ok := l.(*netlink.Veth)
		if !ok {
			return fmt.Errorf("%w: %s is a %s", errNotVeth, ifName, l.Type())
		}
		podIndex, podMAC = l.Attrs().Index, l.Attrs().HardwareAddr.String()
		if peerIndex, err = netlink.VethPeerIndex(veth); err != nil {
			return fmt.Errorf("find the veth peer of %s: %w", ifName, err)
		}
		return nil
	})
	if err != nil {
		return nil, podEnd{}, err
	}
	host, err = netlink.LinkByIndex(peerIndex)
	if err != nil {
		return nil, podEnd{}, fmt.Errorf("the peer of %s (ifindex %d) is not in this network namespace; run the plugin in the host's: %w",
			ifName, peerIndex, err)
	}
	hostVeth, ok := host.(*netlink.Veth)
	if !ok {
		return nil, podEnd{}, fmt.Errorf("the peer of %s (ifindex %d) is not in this network namespace: ifindex %d here is %s, a %s",
			ifName, peerIndex, peerIndex, host.Attrs().Name, host.Type())
	}
	// An ifindex is only unique within one namespace: make sure this veth
	// is the pod's peer and not a namesake of a peer living elsewhere.
	if back, err := netlink.VethPeerIndex(hostVeth); err != nil || back != podIndex {
		return nil, podEnd{}, fmt.Errorf("the peer of %s (ifindex %d) is not in this network namespace: %s here pairs with ifindex %d (%v)",
			ifName, peerIndex, host.Attrs().Name, back, err)
	}
	return host, podEnd{MAC: podMAC, Ifindex: podIndex}, nil
}
