package path

import (
	"net/netip"
	"sync"
	"time"

	"github.com/podint/podint/collector/identity"
	"github.com/podint/podint/internal/intreport"
)

// Sample is one raw report kept as it arrived.
type Sample struct {
	At          time.Time
	From        netip.AddrPort
	Format      intreport.Format
	Seq         uint32
	Kind        intreport.Kind
	SwitchID    uint32
	IngressPort uint32
	EgressPort  uint32
	HopLatency  time.Duration
	HopKnown    bool // false: no probed ingress port timed the packet
	DropReason  uint8
	Flow        intreport.Flow
	FrameLen    uint32
}

// Interval is everything one interval produced, ready for the store.
type Interval struct {
	Start   time.Time
	Paths   []*Path
	Samples []Sample
}

// AggregatorConfig bounds the aggregator.
type AggregatorConfig struct {
	Interval           time.Duration // default 10s
	MaxPaths           int           // per interval; default 200000
	SamplesPerPath     int           // raw reports kept per path and interval; default 2
	SamplesPerInterval int           // default 10000
	// Delay holds an interval open that long after its end, so that the
	// nodes' translations of its last connections are read before its
	// paths are joined to them (the topology poll interval and a second).
	Delay time.Duration
}

// Aggregator accumulates reports into paths per interval. Safe for
// concurrent use.
type Aggregator struct {
	cfg AggregatorConfig
	dir *identity.Directory

	mu        sync.Mutex
	intervals map[time.Time]*open
	// cur is the interval most reports go to, found without a map lookup.
	cur      *open
	curStart time.Time
	overflow uint64 // reports whose path did not fit in MaxPaths
}

type open struct {
	paths   map[pathKey]*Path
	samples []Sample
}

type pathKey struct {
	flow           intreport.Flow
	srcUID, dstUID string
}

// NewAggregator returns an empty aggregator resolving pods with dir.
func NewAggregator(cfg AggregatorConfig, dir *identity.Directory) *Aggregator {
	if cfg.Interval <= 0 {
		cfg.Interval = 10 * time.Second
	}
	if cfg.MaxPaths <= 0 {
		cfg.MaxPaths = 200000
	}
	if cfg.SamplesPerPath <= 0 {
		cfg.SamplesPerPath = 2
	}
	if cfg.SamplesPerInterval <= 0 {
		cfg.SamplesPerInterval = 10000
	}
	return &Aggregator{cfg: cfg, dir: dir, intervals: map[time.Time]*open{}}
}

// IntervalLength is the aggregation interval.
func (a *Aggregator) IntervalLength() time.Duration { return a.cfg.Interval }

// Overflow counts reports dropped because an interval held MaxPaths paths.
func (a *Aggregator) Overflow() uint64 {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.overflow
}

// Add records report r of datagram d that arrived from from at at, and
// returns the pods its flow is between (as known at at).
func (a *Aggregator) Add(at time.Time, from netip.AddrPort, d *intreport.Datagram, r *intreport.Decoded) (src, dst identity.Pod) {
	src, _ = a.dir.PodAt(r.Flow.Src, at)
	dst, _ = a.dir.PodAt(r.Flow.Dst, at)
	start := at.Truncate(a.cfg.Interval)
	k := pathKey{r.Flow, src.UID, dst.UID}
	a.mu.Lock()
	defer a.mu.Unlock()
	iv := a.cur
	if iv == nil || !a.curStart.Equal(start) {
		iv = a.intervals[start]
	}
	if iv == nil {
		iv = &open{paths: map[pathKey]*Path{}}
		a.intervals[start] = iv
	}
	a.cur, a.curStart = iv, start
	p := iv.paths[k]
	if p == nil {
		if len(iv.paths) >= a.cfg.MaxPaths {
			a.overflow++
			return src, dst
		}
		p = &Path{Interval: start, Flow: r.Flow, Src: src, Dst: dst}
		iv.paths[k] = p
	}
	h := p.hop(hopKey{r.SwitchID, r.IngressPort, r.EgressPort})
	if h.FirstSeen.IsZero() {
		h.FirstSeen = at
	}
	h.LastSeen = at
	ns, known := r.HopLatency()
	lat := time.Duration(ns)
	if r.Kind == intreport.KindDrop {
		if h.Drops == nil {
			h.Drops = map[uint8]uint64{}
		}
		h.Drops[r.DropReason]++
	} else {
		h.Reports++
		h.Bytes += uint64(r.FrameLen)
		if known { // unknown (no probed ingress) is left out, not counted as 0
			h.Latency.Observe(lat)
		}
	}
	if len(iv.samples) < a.cfg.SamplesPerInterval && p.sampled < a.cfg.SamplesPerPath {
		p.sampled++
		iv.samples = append(iv.samples, Sample{At: at, From: from, Format: d.Format, Seq: d.Seq, Kind: r.Kind,
			SwitchID: r.SwitchID, IngressPort: r.IngressPort, EgressPort: r.EgressPort, HopLatency: lat, HopKnown: known,
			DropReason: r.DropReason, Flow: r.Flow, FrameLen: r.FrameLen})
	}
	return src, dst
}

// Flush closes the intervals that ended by now (all of them when all is
// set, at shutdown) and returns them with their hops placed and ordered.
// Pods still unknown are looked up again: the topology may have caught up.
func (a *Aggregator) Flush(now time.Time, all bool) []Interval {
	a.mu.Lock()
	var done []Interval
	for start, iv := range a.intervals {
		if !all && start.Add(a.cfg.Interval+a.cfg.Delay).After(now) {
			continue
		}
		delete(a.intervals, start)
		if iv == a.cur {
			a.cur = nil
		}
		out := Interval{Start: start, Samples: iv.samples}
		for _, p := range iv.paths {
			out.Paths = append(out.Paths, p)
		}
		done = append(done, out)
	}
	a.mu.Unlock()
	for i := range done {
		for _, p := range done[i].Paths {
			a.place(p)
		}
		done[i].Paths = merge(done[i].Paths)
	}
	return done
}

// place names each hop's node and gives it its position in the path.
func (a *Aggregator) place(p *Path) {
	for _, h := range p.Hops {
		if !p.Src.Known() {
			p.Src, _ = a.dir.PodAt(p.Flow.Src, h.FirstSeen)
		}
		if !p.Dst.Known() {
			p.Dst, _ = a.dir.PodAt(p.Flow.Dst, h.FirstSeen)
		}
	}
	a.translate(p)
	for _, h := range p.Hops {
		h.Node = a.dir.NodeName(h.SwitchID)
		in, out := a.dir.PortKind(h.SwitchID, h.IngressPort), a.dir.PortKind(h.SwitchID, h.EgressPort)
		switch {
		case in == identity.PortPod, in == identity.PortCPU: // from a pod, or sent by the node itself
			h.Position = PositionSource
		case out == identity.PortPod, out == identity.PortCPU: // to a pod, or delivered to the node
			h.Position = PositionDestination
		case h.Node != "" && h.Node == p.Src.Node:
			h.Position = PositionSource
		case h.Node != "" && h.Node == p.Dst.Node:
			h.Position = PositionDestination
		default:
			h.Position = PositionTransit
		}
	}
	p.order()
}

// translate joins p to the connection a node saw NATed, as of its first
// report: the Service it was sent to, and the pod behind a masqueraded
// source (or destination, for the reply before the node undid the SNAT).
func (a *Aggregator) translate(p *Path) {
	if a.dir.NAT == nil || len(p.Hops) == 0 {
		return
	}
	at := p.Hops[0].FirstSeen
	for _, h := range p.Hops[1:] {
		if h.FirstSeen.Before(at) {
			at = h.FirstSeen
		}
	}
	tr, role, ok := a.dir.NAT.Lookup(p.Flow, at)
	if !ok {
		return
	}
	p.Service = tr.Service
	client := tr.Client.Addr()
	switch {
	case role == identity.RoleRequest && !p.Src.Known() && client != p.Flow.Src:
		p.Src, _ = a.dir.PodAt(client, at)
	case role == identity.RoleReplyIn && !p.Dst.Known() && client != p.Flow.Dst:
		p.Dst, _ = a.dir.PodAt(client, at)
	}
}

// merge joins paths that became one when a pod unknown at arrival was
// resolved at flush.
func merge(paths []*Path) []*Path {
	byKey := map[pathKey]*Path{}
	out := paths[:0]
	for _, p := range paths {
		k := pathKey{p.Flow, p.Src.UID, p.Dst.UID}
		q := byKey[k]
		if q == nil {
			byKey[k] = p
			out = append(out, p)
			continue
		}
		if !q.Service.IsValid() {
			q.Service = p.Service
		}
		for _, h := range p.Hops {
			g := q.hop(hopKey{h.SwitchID, h.IngressPort, h.EgressPort})
			if g.FirstSeen.IsZero() || h.FirstSeen.Before(g.FirstSeen) {
				g.FirstSeen = h.FirstSeen
			}
			if h.LastSeen.After(g.LastSeen) {
				g.LastSeen = h.LastSeen
			}
			g.Node, g.Position = h.Node, h.Position
			g.Reports += h.Reports
			g.Bytes += h.Bytes
			g.Latency.Merge(&h.Latency)
			for r, n := range h.Drops {
				if g.Drops == nil {
					g.Drops = map[uint8]uint64{}
				}
				g.Drops[r] += n
			}
		}
		q.order()
	}
	return out
}
