package path

import (
	"net/netip"
	"testing"
	"time"

	"github.com/podint/podint/internal/intreport"
	"github.com/podint/podint/internal/topology"
)

// Node 2's own stack (kubelet, a host-network pod) reaches pod web on node
// 1: its packets enter node 2 through its CPU port, so node 2's hop is the
// path's source, not a transit switch (its address names no pod).
func TestAHopEnteringThroughTheCPUPortIsTheSource(t *testing.T) {
	t0 := time.Unix(1000, 0)
	dir := cluster(t0)
	withCPU := topology.HostReporterTopology{Node: topology.HostReporterNode{Name: "n2"}, Links: []topology.HostReporterLink{
		{ID: up, Kind: "uplink", IsNodeIface: true},
		{ID: 1, Name: topology.CPUPortName, Kind: topology.LinkKindCPU},
		{ID: 20, Kind: "pod", PodNamespace: "data", PodName: "db-0", PodUID: "db-0-uid", PodIPs: []string{"10.22.2.6"}},
	}}
	dir.Apply(sw2, withCPU, t0)
	a := NewAggregator(AggregatorConfig{Interval: 10 * time.Second}, dir)
	r2 := report(sw2, 1, up, 2000)
	r1 := report(sw1, up, 10, 3000)
	for _, r := range []*intreport.Decoded{r1, r2} {
		r.Flow = intreport.Flow{Src: netip.MustParseAddr("192.168.50.2"), Dst: netip.MustParseAddr("10.22.1.5"),
			Proto: intreport.ProtoTCP, SrcPort: 40000, DstPort: 8080}
	}
	a.Add(t0.Add(time.Second), netip.AddrPort{}, &intreport.Datagram{}, r1)
	a.Add(t0.Add(time.Second), netip.AddrPort{}, &intreport.Datagram{}, r2)
	ivs := a.Flush(t0.Add(time.Minute), false)
	if len(ivs) != 1 || len(ivs[0].Paths) != 1 || len(ivs[0].Paths[0].Hops) != 2 {
		t.Fatalf("want one path of two hops, got %+v", ivs)
	}
	if h := ivs[0].Paths[0].Hops; h[0].SwitchID != sw2 || h[0].Position != PositionSource || h[1].Position != PositionDestination {
		t.Errorf("hops %+v then %+v: want n2 (entered through its CPU port) as the source", h[0], h[1])
	}
}
