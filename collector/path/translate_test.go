package path

import (
	"net/netip"
	"testing"
	"time"

	"github.com/podint/podint/internal/intreport"
	"github.com/podint/podint/internal/topology"
)

// Pod web (node 1) reaches pod db (node 2) through Service 10.96.0.10:5432,
// which node 1 DNATed: both nodes report the post-NAT flow, node 1 also the
// reply un-DNATed. Every path of the connection names the Service.
func TestPathsOfAServiceConnectionNameTheService(t *testing.T) {
	t0 := time.Unix(1000, 0)
	dir := cluster(t0)
	dir.NAT.Apply(sw1, topology.Translations{Connections: []topology.Translation{{ID: 1, Proto: intreport.ProtoTCP,
		Src: "10.22.1.5:40000", Dst: "10.22.2.6:5432", Client: "10.22.1.5:40000", Service: "10.96.0.10:5432"}}}, t0.Add(2*time.Second))
	a := NewAggregator(AggregatorConfig{Interval: 10 * time.Second, Delay: 2 * time.Second}, dir)
	d := &intreport.Datagram{}
	reply := report(sw2, 20, up, 2000)
	reply.Flow = intreport.Flow{Src: flow.Dst, Dst: flow.Src, Proto: flow.Proto, SrcPort: flow.DstPort, DstPort: flow.SrcPort}
	replyOut := report(sw1, up, 10, 2000)
	replyOut.Flow = reply.Flow
	replyOut.Flow.Src, replyOut.Flow.SrcPort = netip.MustParseAddr("10.96.0.10"), 5432
	unrelated := report(sw1, 10, up, 1000)
	unrelated.Flow.SrcPort = 40001
	for _, r := range []*intreport.Decoded{report(sw1, 10, up, 5000), report(sw2, up, 20, 3000), reply, replyOut, unrelated} {
		a.Add(t0.Add(time.Second), netip.AddrPort{}, d, r)
	}
	if got := a.Flush(t0.Add(11*time.Second), false); len(got) != 0 {
		t.Fatalf("interval flushed before its delay for the nodes' translations")
	}
	ivs := a.Flush(t0.Add(12*time.Second), false)
	if len(ivs) != 1 || len(ivs[0].Paths) != 4 {
		t.Fatalf("want one interval of 4 paths, got %+v", ivs)
	}
	for _, p := range ivs[0].Paths {
		want := "10.96.0.10:5432"
		if p.Flow.SrcPort == 40001 {
			want = "invalid AddrPort" // another connection of the same pods, direct
		}
		if p.Service.String() != want {
			t.Errorf("path %v (%d hops): service %v, want %s", p.Flow, len(p.Hops), p.Service, want)
		}
	}
}

// Pod web masqueraded to node 1's address on its way out: the path's source
// is web, not unknown.
func TestAMasqueradedSourceIsItsPod(t *testing.T) {
	t0 := time.Unix(1000, 0)
	dir := cluster(t0)
	dir.NAT.Apply(sw1, topology.Translations{Connections: []topology.Translation{{ID: 1, Proto: intreport.ProtoTCP,
		Src: "192.168.50.1:61000", Dst: "192.168.60.9:443", Client: "10.22.1.5:40000"}}}, t0.Add(2*time.Second))
	a := NewAggregator(AggregatorConfig{Interval: 10 * time.Second}, dir)
	r := report(sw1, 10, up, 5000)
	r.Flow = intreport.Flow{Src: netip.MustParseAddr("192.168.50.1"), Dst: netip.MustParseAddr("192.168.60.9"),
		Proto: intreport.ProtoTCP, SrcPort: 61000, DstPort: 443}
	a.Add(t0.Add(time.Second), netip.AddrPort{}, &intreport.Datagram{}, r)
	ivs := a.Flush(t0.Add(time.Minute), false)
	if len(ivs) != 1 || len(ivs[0].Paths) != 1 {
		t.Fatalf("want one path, got %+v", ivs)
	}
	if p := ivs[0].Paths[0]; p.Src.Name != "web-7d9f-abcde" || p.Service.IsValid() {
		t.Errorf("source %+v, service %v; want pod web-7d9f-abcde behind the node's address, no Service", p.Src, p.Service)
	}
}
