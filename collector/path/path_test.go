package path

import (
	"net/netip"
	"testing"
	"time"

	"github.com/podint/podint/collector/identity"
	"github.com/podint/podint/internal/intreport"
	"github.com/podint/podint/internal/topology"
)

const (
	sw1, sw2, swMid = 0xc0a83201, 0xc0a83202, 0x0a000001
	up              = 2
)

func cluster(at time.Time) *identity.Directory {
	d := identity.NewDirectory()
	fill(d, at)
	return d
}

func fill(d *identity.Directory, at time.Time) {
	node := func(name string, ifindex uint32, ns, pod, ip string) topology.HostReporterTopology {
		return topology.HostReporterTopology{Node: topology.HostReporterNode{Name: name}, Links: []topology.HostReporterLink{
			{ID: up, Kind: "uplink", IsNodeIface: true},
			{ID: ifindex, Kind: "pod", PodNamespace: ns, PodName: pod, PodUID: pod + "-uid", PodIPs: []string{ip}},
		}}
	}
	d.Apply(sw1, node("n1", 10, "shop", "web-7d9f-abcde", "10.22.1.5"), at)
	d.Apply(sw2, node("n2", 20, "data", "db-0", "10.22.2.6"), at)
}

var flow = intreport.Flow{Src: netip.MustParseAddr("10.22.1.5"), Dst: netip.MustParseAddr("10.22.2.6"),
	Proto: intreport.ProtoTCP, SrcPort: 40000, DstPort: 5432}

func report(sw, in, out uint32, lat uint64) *intreport.Decoded {
	return &intreport.Decoded{Report: intreport.Report{Kind: intreport.KindFlow, SwitchID: sw, IngressPort: in, EgressPort: out,
		IngressTS: 1000, EgressTS: 1000 + lat, Flow: flow, FrameLen: 100}}
}

func TestCrossNodeFlowIsOnePathInOrder(t *testing.T) {
	t0 := time.Unix(1000, 0)
	a := NewAggregator(AggregatorConfig{Interval: 10 * time.Second}, cluster(t0))
	d := &intreport.Datagram{}
	// Arrival order says nothing of path order: node 2's report first.
	a.Add(t0.Add(time.Second), netip.AddrPort{}, d, report(sw2, up, 20, 3000))
	a.Add(t0.Add(time.Second), netip.AddrPort{}, d, report(swMid, 1, 2, 1000))
	a.Add(t0.Add(2*time.Second), netip.AddrPort{}, d, report(sw1, 10, up, 5000))
	a.Add(t0.Add(3*time.Second), netip.AddrPort{}, d, report(sw1, 10, up, 7000))
	drop := report(sw2, up, 0, 0)
	drop.Kind, drop.DropReason = intreport.KindDrop, intreport.DropReasonNoSocket
	a.Add(t0.Add(4*time.Second), netip.AddrPort{}, d, drop)

	if got := a.Flush(t0.Add(5*time.Second), false); len(got) != 0 {
		t.Fatalf("interval flushed before it ended: %+v", got)
	}
	ivs := a.Flush(t0.Add(10*time.Second), false)
	if len(ivs) != 1 || len(ivs[0].Paths) != 1 {
		t.Fatalf("got %d intervals, want 1 with 1 path: %+v", len(ivs), ivs)
	}
	p := ivs[0].Paths[0]
	if p.Src.Name != "web-7d9f-abcde" || p.Src.Namespace != "shop" || p.Dst.Name != "db-0" || p.Dst.Node != "n2" {
		t.Errorf("endpoints %+v -> %+v", p.Src, p.Dst)
	}
	var order []uint32
	for _, h := range p.Hops {
		order = append(order, h.SwitchID)
	}
	want := []uint32{sw1, swMid, sw2, sw2}
	if len(order) != len(want) {
		t.Fatalf("hops %x, want %x", order, want)
	}
	for i := range want {
		if order[i] != want[i] {
			t.Fatalf("hops %x, want %x", order, want)
		}
	}
	if h := p.Hops[0]; h.Reports != 2 || h.Latency.Max != 7*time.Microsecond || h.Node != "n1" || h.Bytes != 200 {
		t.Errorf("first hop %+v", h)
	}
	if got, want := p.Latency(), 6*time.Microsecond+time.Microsecond+3*time.Microsecond; got != want {
		t.Errorf("path latency %v, want %v (the hops' means summed)", got, want)
	}
	at := p.DroppedAt()
	if at == nil || at.SwitchID != sw2 || at.Drops[intreport.DropReasonNoSocket] != 1 {
		t.Errorf("dropped at %+v, want node 2 with one no-socket drop", at)
	}
	if len(ivs[0].Samples) != 2 {
		t.Errorf("%d samples, want 2 (SamplesPerPath)", len(ivs[0].Samples))
	}
}

func TestPathsResolvedLateMerge(t *testing.T) {
	t0 := time.Unix(1000, 0)
	dir := identity.NewDirectory()
	a := NewAggregator(AggregatorConfig{Interval: 10 * time.Second}, dir)
	d := &intreport.Datagram{}
	a.Add(t0.Add(time.Second), netip.AddrPort{}, d, report(sw1, 10, up, 5000)) // before any topology
	fill(dir, t0.Add(2*time.Second))
	a.Add(t0.Add(3*time.Second), netip.AddrPort{}, d, report(sw2, up, 20, 3000))
	ivs := a.Flush(t0.Add(time.Minute), false)
	if len(ivs) != 1 || len(ivs[0].Paths) != 1 || len(ivs[0].Paths[0].Hops) != 2 {
		t.Fatalf("want one path of two hops, got %+v", ivs)
	}
}

func TestHistogramQuantile(t *testing.T) {
	var h Histogram
	for i := 0; i < 99; i++ {
		h.Observe(3 * time.Microsecond)
	}
	h.Observe(40 * time.Millisecond)
	if q := h.Quantile(0.5); q != 5*time.Microsecond {
		t.Errorf("p50 %v, want the 5µs bucket", q)
	}
	if q := h.Quantile(1); q != 40*time.Millisecond {
		t.Errorf("p100 %v, want the max", q)
	}
}

// A flood of distinct flows (one source spraying addresses) fills at most
// MaxPaths per interval; the rest is counted, memory stays bounded.
func TestFloodOfFlowsIsBoundedAndCounted(t *testing.T) {
	t0 := time.Unix(1000, 0)
	a := NewAggregator(AggregatorConfig{Interval: 10 * time.Second, MaxPaths: 100}, identity.NewDirectory())
	d := &intreport.Datagram{}
	for i := range 250 {
		r := report(sw1, 10, up, 1000)
		r.Flow.SrcPort = uint16(i)
		a.Add(t0, netip.AddrPort{}, d, r)
	}
	ivs := a.Flush(t0.Add(time.Minute), false)
	if len(ivs) != 1 || len(ivs[0].Paths) != 100 || a.Overflow() != 150 {
		t.Errorf("%d paths kept, %d reports overflowed; want 100 and 150", len(ivs[0].Paths), a.Overflow())
	}
}
