package topology

import (
	"encoding/json"
	"strings"
	"testing"

	podintv1 "github.com/podint/podint/proto/podint/v1"
)

// sample is a node with one uplink and two pods, one with two addresses.
func sample() *podintv1.TopologyResponse {
	return &podintv1.TopologyResponse{
		Node: &podintv1.Node{Name: "worker-1", SwitchId: 0x0a000001, SwitchIp: "10.0.0.1", CpuPort: 1,
			Uplinks: []*podintv1.Probe{{Ifindex: 2, HostInterface: "eth0", Kind: podintv1.PortKind_PORT_KIND_UPLINK,
				Addresses: []string{"fd00::1/64", "10.0.0.1/24"}}}},
		Ports: []*podintv1.Probe{
			{Ifindex: 7, HostInterface: "veth7", Kind: podintv1.PortKind_PORT_KIND_POD, Pod: &podintv1.Pod{
				Namespace: "default", Name: "client", Uid: "u1", ContainerId: "c1", Interface: "eth0", Mac: "0a:58:0a:16:00:02",
				Ips: []*podintv1.PodIP{{Address: "10.22.0.2/24", Gateway: "10.22.0.1", Subnet: "10.22.0.0/24"},
					{Address: "fd22::2/64", Gateway: "fd22::1", Subnet: "fd22::/64"}}}},
			{Ifindex: 8, HostInterface: "veth8", Kind: podintv1.PortKind_PORT_KIND_POD, Pod: &podintv1.Pod{
				Namespace: "default", Name: "server", ContainerId: "c2", Interface: "eth0",
				Ips: []*podintv1.PodIP{{Address: "10.22.0.3/24", Gateway: "10.22.0.1", Subnet: "10.22.0.0/24"}}}},
		},
	}
}

func TestDeepInsightDocument(t *testing.T) {
	doc := DeepInsight(sample())
	if len(doc.Switches) != 1 {
		t.Fatalf("%d switches, want the node alone", len(doc.Switches))
	}
	sw := doc.Switches[0]
	if sw.SwitchID != 0x0a000001 || sw.IP != "10.0.0.1" || sw.DefaultIntf != "2" || len(sw.Ports) != 4 {
		t.Errorf("switch %+v: want id 10.0.0.1, default interface 2, 4 ports", sw)
	}
	if p := sw.Ports[1]; p.ID != 1 || p.Name != "cpu" {
		t.Errorf("port %+v after the uplink, want the CPU port: id 1, named cpu", p)
	}
	hosts := map[string]DeepInsightHost{}
	for _, h := range doc.Hosts {
		hosts[h.IP] = h
	}
	if len(doc.Hosts) != 3 || hosts["10.22.0.2"].MAC != "0a:58:0a:16:00:02" || hosts["fd22::2"].Name == hosts["10.22.0.2"].Name {
		t.Errorf("hosts %+v: want one per pod address, unique names, the pod's MAC", doc.Hosts)
	}
	var subnets []string
	for _, s := range doc.Subnets {
		subnets = append(subnets, s.IPSubnet)
	}
	if got := strings.Join(subnets, " "); got != "10.0.0.0/24 10.22.0.0/24 fd00::/64 fd22::/64" {
		t.Errorf("subnets %q", got)
	}
	links := map[string]bool{}
	for _, l := range doc.Links {
		links[l.Node1+":"+l.Port1+"-"+l.Node2+":"+l.Port2] = true
	}
	for _, want := range []string{
		"device:worker-1:8-" + hosts["10.22.0.3"].Name + ":-1", // a pod address hangs off its veth's port
		"device:worker-1:2-10.0.0.0/24:-1",                     // the uplink leads to its network
	} {
		if !links[want] {
			t.Errorf("no link %s in %v", want, links)
		}
	}
}

// The HTTP topology keeps int-host-reporter's fields, which DeepInsight's
// tools read, and adds the pods.
func TestHostReporterShape(t *testing.T) {
	b, err := json.Marshal(HostReporter(sample()))
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Links []map[string]any `json:"links"`
	}
	if err := json.Unmarshal(b, &doc); err != nil {
		t.Fatal(err)
	}
	if len(doc.Links) != 4 {
		t.Fatalf("%d links, want 4: %s", len(doc.Links), b)
	}
	up := doc.Links[0]
	if up["id"] != float64(2) || up["is-node-iface"] != true || up["ip-addresses"].([]any)[0] != "10.0.0.1" {
		t.Errorf("uplink %v: want id 2, the node interface, its IPv4 address first and bare", up)
	}
	if cpu := doc.Links[1]; cpu["id"] != float64(1) || cpu["kind"] != "cpu" || cpu["name"] != "lo" || cpu["is-node-iface"] != false {
		t.Errorf("link %v: want the CPU port, id 1, kind cpu, on lo", cpu)
	}
	pod := doc.Links[2]
	if pod["is-node-iface"] != false || pod["pod-name"] != "client" || pod["pod-namespace"] != "default" ||
		len(pod["pod-ips"].([]any)) != 2 || pod["subnets"].([]any)[0] != "10.22.0.0/24" || pod["gateways"].([]any)[0] != "10.22.0.1" {
		t.Errorf("pod link %v", pod)
	}
	if _, ok := pod["ip-addresses"].([]any); !ok {
		t.Errorf("pod link has no ip-addresses list (int-host-reporter always has one): %v", pod)
	}
}

func TestDOT(t *testing.T) {
	var b strings.Builder
	if err := WriteDOT(&b, sample()); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	for _, want := range []string{"graph podint {", `default/client\n10.22.0.2/24\nfd22::2/64`, `"port 8\nveth8"`, "switch -- uplink_2", `switch -- cpu [label="port 1\nCPU port"]`, "}\n"} {
		if !strings.Contains(out, want) {
			t.Errorf("DOT lacks %q:\n%s", want, out)
		}
	}
}

// A node whose kernel could not attach the CPU port (before 6.4) has no
// port 1 in any rendering.
func TestNoCPUPortWithoutIt(t *testing.T) {
	s := sample()
	s.Node.CpuPort = 0
	var b strings.Builder
	if err := WriteDOT(&b, s); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(b.String(), "cpu") || len(HostReporter(s).Links) != 3 || len(DeepInsight(s).Switches[0].Ports) != 3 {
		t.Errorf("a node without a CPU port renders one:\n%s", b.String())
	}
}
