// Package path joins what every switch reported of one flow into the
// flow's path: per interval, one hop per switch the flow crossed, in the
// order the packets went (the source pod's node first, switches between,
// the destination pod's node last), each with its hop latency histogram and
// the drops it saw by reason. Node clocks are never compared: a path's
// latency is the sum of its hops' latencies, each measured on one clock.
package path

import (
	"cmp"
	"net/netip"
	"slices"
	"time"

	"github.com/podint/podint/collector/identity"
	"github.com/podint/podint/internal/intreport"
)

// Position orders a path's hops when their switches are unrelated.
type Position uint8

const (
	PositionSource      Position = iota // the packet left a pod here
	PositionTransit                     // uplink to uplink, or unknown ports
	PositionDestination                 // the packet entered a pod here
)

// Hop is what one switch saw of a flow in one interval.
type Hop struct {
	SwitchID    uint32
	Node        string // the node's name, "" when its topology is unknown
	IngressPort uint32
	EgressPort  uint32 // 0 when every report was a drop before egress
	Position    Position
	Reports     uint64 // flow reports (sampled packets)
	Bytes       uint64 // bytes of the reported packets, where the report says
	Latency     Histogram
	Drops       map[uint8]uint64 // drop reports by INT drop reason
	FirstSeen   time.Time
	LastSeen    time.Time
}

// Path is one flow between two endpoints in one interval.
type Path struct {
	Interval time.Time // start
	Flow     intreport.Flow
	Src, Dst identity.Pod
	// Service is where the flow's connection was sent before a node DNATed
	// it (a ClusterIP:port, a node:nodePort), from the node's
	// translations; invalid when none is known.
	Service netip.AddrPort
	Hops    []*Hop // in path order

	sampled int    // raw reports of the path kept as samples
	inline  [2]Hop // the first two hops, allocated with the path: most paths have two
}

// Latency is the sum of the hops' mean latencies: the time the packets
// spent inside the switches, with no clock compared between nodes.
func (p *Path) Latency() time.Duration {
	var d time.Duration
	for _, h := range p.Hops {
		d += h.Latency.Mean()
	}
	return d
}

// DroppedAt is the first hop in path order with drops, or nil.
func (p *Path) DroppedAt() *Hop {
	for _, h := range p.Hops {
		if len(h.Drops) > 0 {
			return h
		}
	}
	return nil
}

type hopKey struct {
	switchID uint32
	ingress  uint32
	egress   uint32
}

func (p *Path) hop(k hopKey) *Hop {
	for _, h := range p.Hops {
		if h.SwitchID == k.switchID && h.IngressPort == k.ingress && h.EgressPort == k.egress {
			return h
		}
	}
	var h *Hop
	if n := len(p.Hops); n < len(p.inline) {
		h = &p.inline[n]
		if p.Hops == nil {
			p.Hops = make([]*Hop, 0, len(p.inline))
		}
	} else {
		h = new(Hop)
	}
	*h = Hop{SwitchID: k.switchID, IngressPort: k.ingress, EgressPort: k.egress}
	p.Hops = append(p.Hops, h)
	return h
}

// order sorts the hops: by position, then by switch id for transit hops
// (a stable order; which way a fabric runs is unknown without its topology).
func (p *Path) order() {
	slices.SortStableFunc(p.Hops, func(a, b *Hop) int {
		if c := cmp.Compare(a.Position, b.Position); c != 0 {
			return c
		}
		return cmp.Compare(a.SwitchID, b.SwitchID)
	})
}
