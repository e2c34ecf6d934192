// Package podveth finds and checks a pod's veth pair from the node's
// network namespace: the CNI plugin finds the host end of the pod's
// interface, the daemon checks that a registered port is it. Both ask the
// kernel, not a CNI result, so whatever primary plugin made the veth
// (bridge, ptp, Calico, Cilium, ...) and whatever it reported.
package podveth

import (
	"errors"
	"fmt"
)

// ErrNotVeth marks a pod interface podint cannot probe (macvlan, ipvlan,
// SR-IOV, ...).
var ErrNotVeth = errors.New("pod interface is not a veth")

// ErrGone says the host interface no longer exists.
var ErrGone = errors.New("no such interface in the node's network namespace")

// Pair is a pod's veth: its host end in the caller's network namespace and
// its pod end inside the pod's.
type Pair struct {
	HostIfindex int
	HostName    string
	PodIfindex  int
	PodMAC      string
}

// Find returns the veth pair of the interface podIf inside netnsPath. The
// host end must be in the caller's network namespace and pair back with
// the pod end: an ifindex is only unique within one namespace.
func Find(netnsPath, podIf string) (Pair, error) {
	pod, err := podLink(netnsPath, podIf)
	if err != nil {
		return Pair{}, err
	}
	s, err := openRtnl()
	if err != nil {
		return Pair{}, err
	}
	defer s.close()
	host, err := s.get(pod.peer, "")
	if err != nil {
		return Pair{}, fmt.Errorf("the peer of %s (ifindex %d) is not in this network namespace; run in the host's: %w",
			podIf, pod.peer, err)
	}
	return pair(host, pod, podIf)
}

// podLink reads the veth podIf inside the network namespace at netnsPath.
func podLink(netnsPath, podIf string) (link, error) {
	s, err := openRtnlIn(netnsPath)
	if err != nil {
		return link{}, err
	}
	defer s.close()
	l, err := s.get(0, podIf)
	if err != nil {
		return link{}, fmt.Errorf("pod interface %s not found in netns %s: %w", podIf, netnsPath, err)
	}
	if l.kind != "veth" {
		return link{}, fmt.Errorf("%w: %s is a %s", ErrNotVeth, podIf, l.typ())
	}
	if l.peer == 0 {
		return link{}, fmt.Errorf("find the veth peer of %s: the kernel names none", podIf)
	}
	return l, nil
}

// pair checks that host, in the caller's namespace, is the veth peer of
// pod.
func pair(host, pod link, podIf string) (Pair, error) {
	if host.kind != "veth" {
		return Pair{}, fmt.Errorf("the peer of %s (ifindex %d) is not in this network namespace: ifindex %d here is %s, a %s",
			podIf, pod.peer, pod.peer, host.name, host.typ())
	}
	if host.peer != pod.index {
		return Pair{}, fmt.Errorf("the peer of %s (ifindex %d) is not in this network namespace: %s here pairs with ifindex %d",
			podIf, pod.peer, host.name, host.peer)
	}
	return Pair{HostIfindex: host.index, HostName: host.name, PodIfindex: pod.index, PodMAC: pod.mac}, nil
}

// Verify checks that ifindex, named hostIf when hostIf is not empty, is
// the host end of the veth of podIf inside netnsPath.
func Verify(ifindex int, hostIf, netnsPath, podIf string) (Pair, error) {
	s, err := openRtnl()
	if err != nil {
		return Pair{}, err
	}
	defer s.close()
	host, err := s.get(ifindex, "")
	if errors.Is(err, errNoLink) {
		return Pair{}, fmt.Errorf("ifindex %d: %w", ifindex, ErrGone)
	}
	if err != nil {
		return Pair{}, fmt.Errorf("ifindex %d: %w", ifindex, err)
	}
	if hostIf != "" && hostIf != host.name {
		return Pair{}, fmt.Errorf("ifindex %d is %s, not host_interface %s", ifindex, host.name, hostIf)
	}
	if host.kind != "veth" {
		return Pair{}, fmt.Errorf("ifindex %d (%s) is a %s, not a veth: podint probes pod veths only", ifindex, host.name, host.typ())
	}
	if netnsPath == "" {
		return Pair{}, errors.New("pod netns is empty: give the path of the pod's network namespace")
	}
	pod, err := podLink(netnsPath, podIf)
	if err != nil {
		return Pair{}, err
	}
	if pod.peer != ifindex {
		// The pod's veth pairs with another interface: name it, if it is here.
		other, err := s.get(pod.peer, "")
		if err != nil {
			other = link{index: pod.peer, name: "?"}
		}
		return Pair{}, fmt.Errorf("%s in netns %s pairs with %s (ifindex %d), not %s (%d): the veth belongs to another pod",
			podIf, netnsPath, other.name, pod.peer, host.name, ifindex)
	}
	return pair(host, pod, podIf)
}
