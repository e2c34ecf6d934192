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

// findHostVeth returns the host side of the pod's veth: the peer of the
// container interface ifName inside netnsPath. It relies on the kernel, not
// on the prevResult, so it works whatever primary plugin made the veth and
// whatever it reported (bridge, ptp, Calico, Cilium, AWS VPC CNI...).
func findHostVeth(netnsPath, ifName string) (netlink.Link, error) {
	podNS, err := ns.GetNS(netnsPath)
	if err != nil {
		return nil, fmt.Errorf("open pod netns %s: %w", netnsPath, err)
	}
	defer podNS.Close()

	var peerIndex int
	err = podNS.Do(func(ns.NetNS) error {
		l, err := netlink.LinkByName(ifName)
		if err != nil {
			return fmt.Errorf("find %s in pod netns: %w", ifName, err)
		}
		veth, ok := l.(*netlink.Veth)
		if !ok {
			return fmt.Errorf("%w: %s is a %s", errNotVeth, ifName, l.Type())
		}
		if peerIndex, err = netlink.VethPeerIndex(veth); err != nil {
			return fmt.Errorf("find the veth peer of %s: %w", ifName, err)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	host, err := netlink.LinkByIndex(peerIndex)
	if err != nil {
		return nil, fmt.Errorf("the peer of %s (ifindex %d) is not in this network namespace: %w", ifName, peerIndex, err)
	}
	if _, ok := host.(*netlink.Veth); !ok {
		return nil, fmt.Errorf("%w: host ifindex %d is a %s", errNotVeth, peerIndex, host.Type())
	}
	return host, nil
}
