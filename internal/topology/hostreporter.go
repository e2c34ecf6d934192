package topology

import (
	"net/netip"
	"slices"
	"strings"

	podintv1 "github.com/podint/podint/proto/podint/v1"
)

// HostReporterTopology is GET /api/v1/topology in the shape of ONF's
// int-host-reporter (whose "links" DeepInsight's topology tools read: the
// node interface's first address is the virtual switch's IP, the other
// links are its ports), extended with the node and, for pod ports, the pod.
type HostReporterTopology struct {
	Node  HostReporterNode   `json:"node"`
	Links []HostReporterLink `json:"links"`
}

// HostReporterNode is the node as an INT switch.
type HostReporterNode struct {
	Name     string `json:"name"`
	SwitchID uint32 `json:"switch-id"`
	SwitchIP string `json:"switch-ip"`
}

// HostReporterLink is one port of the node.
type HostReporterLink struct {
	ID          uint32   `json:"id"`   // ifindex = INT port id
	Name        string   `json:"name"` // host interface
	IPs         []string `json:"ip-addresses"`
	IsNodeIface bool     `json:"is-node-iface"`
	// podint's additions.
	Kind         string   `json:"kind"` // "pod", "uplink" or "cpu" (the node's own stack, port id 1)
	PodNamespace string   `json:"pod-namespace,omitempty"`
	PodName      string   `json:"pod-name,omitempty"`
	PodUID       string   `json:"pod-uid,omitempty"`
	ContainerID  string   `json:"container-id,omitempty"`
	PodInterface string   `json:"pod-interface,omitempty"`
	PodMAC       string   `json:"pod-mac,omitempty"`
	PodIPs       []string `json:"pod-ips,omitempty"`
	Subnets      []string `json:"subnets,omitempty"`
	Gateways     []string `json:"gateways,omitempty"`
}

// The CPU port in the renderings: the loopback's name (its ifindex is the
// port id) and the link kind the collector reads.
const (
	CPUPortName = "lo"
	LinkKindCPU = "cpu"
)

// HostReporter renders t in int-host-reporter's shape. Addresses are bare
// (no prefix length), IPv4 first, as int-host-reporter lists them.
func HostReporter(t *podintv1.TopologyResponse) HostReporterTopology {
	n := t.GetNode()
	out := HostReporterTopology{
		Node:  HostReporterNode{Name: n.GetName(), SwitchID: n.GetSwitchId(), SwitchIP: n.GetSwitchIp()},
		Links: []HostReporterLink{},
	}
	for _, u := range n.GetUplinks() {
		out.Links = append(out.Links, HostReporterLink{ID: u.GetIfindex(), Name: u.GetHostInterface(),
			IPs: bareAddrs(u.GetAddresses()), IsNodeIface: true, Kind: "uplink"})
	}
	if cpu := n.GetCpuPort(); cpu != 0 {
		// The node's own stack, as an INT switch's CPU port: delivered
		// packets leave through it, the node's own enter through it.
		out.Links = append(out.Links, HostReporterLink{ID: cpu, Name: CPUPortName, IPs: []string{}, Kind: LinkKindCPU})
	}
	for _, p := range t.GetPorts() {
		pod := p.GetPod()
		l := HostReporterLink{ID: p.GetIfindex(), Name: p.GetHostInterface(), IPs: []string{}, Kind: "pod",
			PodNamespace: pod.GetNamespace(), PodName: pod.GetName(), PodUID: pod.GetUid(),
			ContainerID: pod.GetContainerId(), PodInterface: pod.GetInterface(), PodMAC: pod.GetMac()}
		for _, ip := range pod.GetIps() {
			l.PodIPs = append(l.PodIPs, bareAddr(ip.GetAddress()))
			l.Subnets = appendNew(l.Subnets, ip.GetSubnet())
			l.Gateways = appendNew(l.Gateways, ip.GetGateway())
		}
		out.Links = append(out.Links, l)
	}
	return out
}

// bareAddrs strips prefix lengths and puts IPv4 addresses first.
func bareAddrs(cidrs []string) []string {
	out := []string{}
	for _, v4 := range []bool{true, false} {
		for _, c := range cidrs {
			a := bareAddr(c)
			if ip, err := netip.ParseAddr(a); err == nil && ip.Is4() == v4 {
				out = append(out, a)
			}
		}
	}
	return out
}

func bareAddr(cidr string) string {
	a, _, _ := strings.Cut(cidr, "/")
	return a
}

func appendNew(list []string, s string) []string {
	if s == "" || slices.Contains(list, s) {
		return list
	}
	return append(list, s)
}
