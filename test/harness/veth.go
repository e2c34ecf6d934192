package harness

import (
	"fmt"
	"os"
)

// AddVethPod creates a pod wired by hand the way a primary plugin the
// harness does not run would wire it (Calico's cali*, Cilium's lxc*, AWS
// VPC CNI's eni*): a veth pair with hostIf in the node and eth0, holding
// addr (CIDR), in the pod. No CNI plugin runs.
func (n *Node) AddVethPod(name, hostIf, addr string) (*Pod, error) {
	p, err := n.NewPod(name)
	if err != nil {
		return nil, err
	}
	err = runSteps(
		[]string{"ip", "-n", n.NS.Name, "link", "add", hostIf, "type", "veth", "peer", "name", PodIfName, "netns", p.NS.Name},
		[]string{"ip", "-n", n.NS.Name, "link", "set", hostIf, "up"},
		[]string{"ip", "-n", p.NS.Name, "link", "set", PodIfName, "up"},
		[]string{"ip", "-n", p.NS.Name, "addr", "add", addr, "dev", PodIfName},
	)
	if err != nil {
		p.NS.Delete()
		return nil, fmt.Errorf("wire pod %s by hand: %w", name, err)
	}
	return p, nil
}

// AddMacvlanPod creates a pod whose eth0 is a macvlan on parent, a veth
// the node gets for it: a pod interface podint cannot probe.
func (n *Node) AddMacvlanPod(name, parent string) (*Pod, error) {
	p, err := n.NewPod(name)
	if err != nil {
		return nil, err
	}
	tmp := fmt.Sprintf("mv%d", os.Getpid()%100000)
	err = runSteps(
		[]string{"ip", "-n", n.NS.Name, "link", "add", parent, "type", "veth", "peer", "name", parent + "p"},
		[]string{"ip", "-n", n.NS.Name, "link", "add", "link", parent, "name", tmp, "type", "macvlan", "mode", "bridge"},
		[]string{"ip", "-n", n.NS.Name, "link", "set", tmp, "netns", p.NS.Name},
		[]string{"ip", "-n", p.NS.Name, "link", "set", tmp, "name", PodIfName},
		[]string{"ip", "-n", p.NS.Name, "link", "set", PodIfName, "up"},
	)
	if err != nil {
		p.NS.Delete()
		return nil, fmt.Errorf("wire macvlan pod %s: %w", name, err)
	}
	return p, nil
}

func runSteps(cmds ...[]string) error {
	for _, c := range cmds {
		if err := run(c[0], c[1:]...); err != nil {
			return err
		}
	}
	return nil
}

// DeleteLink removes an interface of the node, at once: a veth left to go
// with its pod's namespace lingers until the kernel gets round to it.
func (n *Node) DeleteLink(name string) error {
	return run("ip", "-n", n.NS.Name, "link", "del", name)
}
