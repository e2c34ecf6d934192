package topology

import (
	"fmt"
	"net/netip"
	"sort"
	"strconv"

	podintv1 "github.com/podint/podint/proto/podint/v1"
)

// DeepInsightTopology is a DeepInsight topology document for one node, in
// the form SD-Fabric's DeepInsight utility uploads: the node is a virtual
// switch; every pod address is a host attached to the switch port of its
// veth; pod and uplink networks are subnets; links join switch ports to
// hosts and subnets (port2 "-1": the far end has no port). Documents of
// several nodes merge by concatenating their lists (subnet ids must then
// be renumbered).
type DeepInsightTopology struct {
	Switches []DeepInsightSwitch `json:"switches"`
	Hosts    []DeepInsightHost   `json:"hosts"`
	Subnets  []DeepInsightSubnet `json:"subnets"`
	Links    []DeepInsightLink   `json:"links"`
}

// DeepInsightSwitch is the node as an INT switch.
type DeepInsightSwitch struct {
	SwitchID    uint32            `json:"switchId"`
	Name        string            `json:"name"`
	DeviceType  string            `json:"deviceType"`
	IP          string            `json:"ip"`
	Hostname    string            `json:"hostname"`
	DefaultIntf string            `json:"default-intf,omitempty"` // the uplink's port
	Ports       []DeepInsightPort `json:"ports"`
}

// DeepInsightPort is one port of the switch.
type DeepInsightPort struct {
	ID   uint32 `json:"id"`
	Name string `json:"name"`
}

// DeepInsightHost is one pod address.
type DeepInsightHost struct {
	Name string `json:"name"`
	IP   string `json:"ip"`
	MAC  string `json:"mac,omitempty"`
}

// DeepInsightSubnet is a network the node's ports lead to.
type DeepInsightSubnet struct {
	SubnetID int    `json:"subnet_id"`
	Name     string `json:"name"`
	IPSubnet string `json:"ip_subnet"`
}

// DeepInsightLink joins a switch port to a host, a subnet or a switch.
type DeepInsightLink struct {
	Node1 string `json:"node1"`
	Port1 string `json:"port1"`
	Node2 string `json:"node2"`
	Port2 string `json:"port2"`
}

// DeepInsight renders t as a DeepInsight topology document.
func DeepInsight(t *podintv1.TopologyResponse) DeepInsightTopology {
	n := t.GetNode()
	sw := DeepInsightSwitch{SwitchID: n.GetSwitchId(), Name: "device:" + n.GetName(), DeviceType: "legacy",
		IP: n.GetSwitchIp(), Hostname: n.GetName(), Ports: []DeepInsightPort{}}
	doc := DeepInsightTopology{Hosts: []DeepInsightHost{}, Subnets: []DeepInsightSubnet{}, Links: []DeepInsightLink{}}
	subnets := map[string]bool{}
	link := func(port uint32, to string) {
		doc.Links = append(doc.Links, DeepInsightLink{Node1: sw.Name, Port1: strconv.Itoa(int(port)), Node2: to, Port2: "-1"})
	}
	for _, u := range n.GetUplinks() {
		sw.Ports = append(sw.Ports, DeepInsightPort{ID: u.GetIfindex(), Name: u.GetHostInterface()})
		if sw.DefaultIntf == "" {
			sw.DefaultIntf = strconv.Itoa(int(u.GetIfindex()))
		}
		for _, a := range u.GetAddresses() {
			if pfx, err := netip.ParsePrefix(a); err == nil {
				s := pfx.Masked().String()
				subnets[s] = true
				link(u.GetIfindex(), s)
			}
		}
	}
	if cpu := n.GetCpuPort(); cpu != 0 {
		// The node's own stack is the switch's CPU port; the node's address
		// is already the switch's, so no host hangs off it.
		sw.Ports = append(sw.Ports, DeepInsightPort{ID: cpu, Name: "cpu"})
	}
	names := map[string]int{}
	for _, p := range t.GetPorts() {
		sw.Ports = append(sw.Ports, DeepInsightPort{ID: p.GetIfindex(), Name: p.GetHostInterface()})
		pod := p.GetPod()
		base := pod.GetNamespace() + "/" + pod.GetName()
		if pod.GetName() == "" {
			base = pod.GetContainerId()
		}
		for _, ip := range pod.GetIps() {
			// Host names must be unique: a pod with two addresses is two hosts.
			names[base]++
			name := fmt.Sprintf("%s_%d", base, names[base])
			doc.Hosts = append(doc.Hosts, DeepInsightHost{Name: name, IP: bareAddr(ip.GetAddress()), MAC: pod.GetMac()})
			link(p.GetIfindex(), name)
			if ip.GetSubnet() != "" {
				subnets[ip.GetSubnet()] = true
			}
		}
	}
	list := make([]string, 0, len(subnets))
	for s := range subnets {
		list = append(list, s)
	}
	sort.Strings(list)
	for i, s := range list {
		doc.Subnets = append(doc.Subnets, DeepInsightSubnet{SubnetID: i + 1, Name: s, IPSubnet: s})
	}
	doc.Switches = []DeepInsightSwitch{sw}
	return doc
}
