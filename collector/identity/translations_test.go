package identity

import (
	"net/netip"
	"testing"
	"time"

	"github.com/podint/podint/internal/intreport"
	"github.com/podint/podint/internal/topology"
)

func flow(src string, sport uint16, dst string, dport uint16) intreport.Flow {
	return intreport.Flow{Src: netip.MustParseAddr(src), Dst: netip.MustParseAddr(dst), Proto: intreport.ProtoTCP,
		SrcPort: sport, DstPort: dport}
}

// clusterIP is node 1's connection from pod 10.22.1.2:40000 to Service
// 10.96.0.10:80, DNATed to 10.22.2.9:8080, first reported ageMs ago.
func clusterIP(id uint64, ageMs int64) topology.Translation {
	return topology.Translation{ID: id, Proto: intreport.ProtoTCP, Src: "10.22.1.2:40000", Dst: "10.22.2.9:8080",
		Client: "10.22.1.2:40000", Service: "10.96.0.10:80", FirstSeenAgoMs: ageMs}
}

func listing(conns ...topology.Translation) topology.Translations {
	return topology.Translations{Node: "n1", Connections: conns}
}

func TestEveryReportedFlowOfAConnectionFindsItsService(t *testing.T) {
	x := NewTranslations()
	t0 := time.Unix(1000, 0)
	x.Apply(1, listing(clusterIP(1, 2000)), t0)
	for _, c := range []struct {
		name string
		f    intreport.Flow
		role Role
	}{
		{"the request as it left node 1 and entered node 2", flow("10.22.1.2", 40000, "10.22.2.9", 8080), RoleRequest},
		{"the reply as node 2 sent it", flow("10.22.2.9", 8080, "10.22.1.2", 40000), RoleReplyIn},
		{"the reply as node 1 sent it on, from the Service", flow("10.96.0.10", 80, "10.22.1.2", 40000), RoleReplyOut},
	} {
		tr, role, ok := x.Lookup(c.f, t0.Add(-time.Second))
		if !ok || role != c.role || tr.Service.String() != "10.96.0.10:80" {
			t.Errorf("%s: %+v role %d found %v; want 10.96.0.10:80 as role %d", c.name, tr, role, ok, c.role)
		}
	}
	if _, _, ok := x.Lookup(flow("10.22.1.2", 40001, "10.22.2.9", 8080), t0); ok {
		t.Errorf("another client port found the connection's Service")
	}
}

// A translation is valid only for its connection's lifetime: reports of
// the same 5-tuple before the connection began, or after the node stopped
// listing it, are not the Service's.
func TestATupleIsTheServicesOnlyWhileTheNodeListsIt(t *testing.T) {
	x := NewTranslations()
	t0 := time.Unix(1000, 0)
	req := flow("10.22.1.2", 40000, "10.22.2.9", 8080)
	x.Apply(1, listing(), t0)
	x.Apply(1, listing(clusterIP(1, 3000)), t0.Add(5*time.Second)) // began at t0+2s
	x.Apply(1, listing(clusterIP(1, 8000)), t0.Add(10*time.Second))
	x.Apply(1, listing(), t0.Add(15*time.Second)) // gone: ended at the read before, t0+10s
	for _, c := range []struct {
		at   time.Duration
		want bool
	}{
		{0, false},                      // before it began (beyond the slack)
		{1500 * time.Millisecond, true}, // its first report may arrive just before the node's clock
		{3 * time.Second, true}, {9 * time.Second, true},
		{12 * time.Second, false}, // after the last read that listed it: unknown, never the old connection's
	} {
		if _, _, ok := x.Lookup(req, t0.Add(c.at)); ok != c.want {
			t.Errorf("at t0+%v: found %v, want %v", c.at, ok, c.want)
		}
	}
	// The same tuple through another Service later is another connection.
	next := clusterIP(2, 1000)
	next.Service = "10.96.0.20:80"
	x.Apply(1, listing(next), t0.Add(20*time.Second))
	if tr, _, _ := x.Lookup(req, t0.Add(20*time.Second)); tr.Service.String() != "10.96.0.20:80" {
		t.Errorf("later connection on the tuple: service %v, want 10.96.0.20:80", tr.Service)
	}
	if tr, _, _ := x.Lookup(req, t0.Add(9*time.Second)); tr.Service.String() != "10.96.0.10:80" {
		t.Errorf("the first connection's reports: service %v, want 10.96.0.10:80", tr.Service)
	}
}

func TestMasqueradeNamesTheClientOnly(t *testing.T) {
	x := NewTranslations()
	t0 := time.Unix(1000, 0)
	x.Apply(1, listing(topology.Translation{ID: 1, Proto: intreport.ProtoTCP, Src: "192.168.50.1:61000", Dst: "192.168.50.254:9443",
		Client: "10.22.1.2:40000"}), t0)
	tr, role, ok := x.Lookup(flow("192.168.50.1", 61000, "192.168.50.254", 9443), t0)
	if !ok || role != RoleRequest || tr.Service.IsValid() || tr.Client.String() != "10.22.1.2:40000" {
		t.Errorf("masqueraded request: %+v role %d found %v; want client 10.22.1.2:40000 and no Service", tr, role, ok)
	}
}

func TestTranslationsAreBoundedAndForgotten(t *testing.T) {
	x := NewTranslations()
	x.Max = 2
	t0 := time.Unix(1000, 0)
	a, b, c := clusterIP(1, 0), clusterIP(2, 0), clusterIP(3, 0)
	b.Src, b.Client = "10.22.1.2:40001", "10.22.1.2:40001"
	c.Src, c.Client = "10.22.1.2:40002", "10.22.1.2:40002"
	x.Apply(1, listing(a, b, c), t0)
	if x.Len() != 2 || x.Dropped() != 1 {
		t.Fatalf("%d held, %d dropped; want 2 held and 1 counted as dropped", x.Len(), x.Dropped())
	}
	// Ended connections are forgotten once no interval can still need them.
	x.Apply(1, listing(), t0.Add(time.Second))
	x.Apply(1, listing(), t0.Add(translationKeep+2*time.Second))
	if x.Len() != 0 || len(x.byFlow) != 0 {
		t.Errorf("%d held, %d flows indexed after %v; want none", x.Len(), len(x.byFlow), translationKeep)
	}
	// A node no longer read ends its connections at its last read.
	x.Apply(1, listing(a), t0.Add(20*time.Minute))
	x.Apply(2, listing(), t0.Add(40*time.Minute))
	if _, _, ok := x.Lookup(flow("10.22.1.2", 40000, "10.22.2.9", 8080), t0.Add(30*time.Minute)); ok {
		t.Errorf("a connection of a node not read for 20 minutes is still joined")
	}
}
