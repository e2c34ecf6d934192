package identity

import (
	"net/netip"
	"testing"
	"time"

	"github.com/podint/podint/internal/topology"
)

func nodeWith(name string, pods ...topology.HostReporterLink) topology.HostReporterTopology {
	t := topology.HostReporterTopology{Node: topology.HostReporterNode{Name: name}}
	t.Links = append(t.Links, topology.HostReporterLink{ID: 2, Name: "eth0", Kind: "uplink", IsNodeIface: true})
	return topology.HostReporterTopology{Node: t.Node, Links: append(t.Links, pods...)}
}

func pod(ifindex uint32, ns, name, uid, ip string) topology.HostReporterLink {
	return topology.HostReporterLink{ID: ifindex, Kind: "pod", PodNamespace: ns, PodName: name, PodUID: uid, PodIPs: []string{ip}}
}

func TestAddressReusedByAnotherPodIsNeverTheOldPod(t *testing.T) {
	d := NewDirectory()
	d.Grace = time.Second
	ip := netip.MustParseAddr("10.22.1.5")
	t0 := time.Unix(1000, 0)
	d.Apply(1, nodeWith("n1", pod(7, "shop", "web-1", "uid-old", "10.22.1.5")), t0)
	d.Apply(1, nodeWith("n1", pod(7, "shop", "web-1", "uid-old", "10.22.1.5")), t0.Add(5*time.Second))
	// Between the polls at +5s and +10s, web-1 was deleted and its address
	// given to db-0.
	d.Apply(1, nodeWith("n1", pod(9, "data", "db-0", "uid-new", "10.22.1.5")), t0.Add(10*time.Second))

	if p, ok := d.PodAt(ip, t0.Add(3*time.Second)); !ok || p.Name != "web-1" || p.Node != "n1" {
		t.Errorf("at +3s: %+v %v, want web-1 on n1", p, ok)
	}
	if p, ok := d.PodAt(ip, t0.Add(7*time.Second)); ok {
		t.Errorf("at +7s, between the polls that saw the owner change: %+v, want no pod", p)
	}
	if p, ok := d.PodAt(ip, t0.Add(11*time.Second)); !ok || p.Name != "db-0" || p.Namespace != "data" {
		t.Errorf("at +11s: %+v %v, want data/db-0", p, ok)
	}
	if k := d.PortKind(1, 9); k != PortPod {
		t.Errorf("port 9 kind %v, want pod", k)
	}
	if k := d.PortKind(1, 7); k != PortUnknown {
		t.Errorf("port 7 of the deleted pod is still %v", k)
	}
	if k := d.PortKind(1, 2); k != PortUplink {
		t.Errorf("port 2 kind %v, want uplink", k)
	}
}

func TestDeletedPodKeepsNoAddress(t *testing.T) {
	d := NewDirectory()
	ip := netip.MustParseAddr("10.22.1.6")
	t0 := time.Unix(1000, 0)
	d.Apply(1, nodeWith("n1", pod(7, "a", "p", "u1", "10.22.1.6")), t0)
	d.Apply(1, nodeWith("n1"), t0.Add(5*time.Second))
	if p, ok := d.PodAt(ip, t0.Add(6*time.Second)); ok {
		t.Errorf("after the pod is gone: %+v", p)
	}
}

func TestFirstOwnerCoversReportsBeforeItsFirstPoll(t *testing.T) {
	d := NewDirectory()
	d.Grace = 5 * time.Second
	ip := netip.MustParseAddr("10.22.2.9")
	t0 := time.Unix(1000, 0)
	d.Apply(2, nodeWith("n2", pod(4, "a", "p", "u1", "10.22.2.9")), t0)
	if p, ok := d.PodAt(ip, t0.Add(-2*time.Second)); !ok || p.Name != "p" {
		t.Errorf("2s before the first poll: %+v %v, want p", p, ok)
	}
	if p, ok := d.PodAt(ip, t0.Add(-time.Minute)); ok {
		t.Errorf("a minute before the first poll: %+v, want none", p)
	}
}
