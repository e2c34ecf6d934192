package collect

import (
	"cmp"
	"net/netip"
	"slices"
	"time"

	"github.com/podint/podint/internal/intreport"
	"github.com/podint/podint/internal/reportseq"
)

const (
	// latencySamples is how many recent hop latencies per flow the
	// percentiles are computed over: recent behaviour, bounded memory.
	latencySamples = 1024
	// maxFlows bounds the flow table; the flow seen least recently makes room.
	maxFlows = 65536
)

// Summary is a snapshot of a collector's view.
type Summary struct {
	Datagrams       uint64
	Reports         uint64
	Malformed       uint64 // datagrams that did not decode
	Flows           []FlowSummary
	Drops           []DropSummary
	Sources         []SourceSummary
	SubscriberDrops uint64 // reports a full subscriber channel did not take
}

// FlowSummary is what the flow reports of one flow through one switch say.
// The hop latency figures leave out reports whose hop latency is unknown
// (no probed ingress port timed the packet): they are not 0.
type FlowSummary struct {
	SwitchID   uint32
	Flow       intreport.Flow
	Packets    uint64 // flow reports
	HopReports uint64 // flow reports with a hop latency; 0: the figures below mean nothing
	HopP50     time.Duration
	HopP99     time.Duration // p50 and p99 over the last 1024 reports with a hop latency
	HopMax     time.Duration // over all reports with a hop latency
	LastSeen   time.Time
}

// DropSummary counts drop reports of one reason.
type DropSummary struct {
	Reason uint8
	Name   string // "" when the code has no registered name
	Count  uint64
}

// SourceSummary is one sender's sequence accounting. A source is a sender
// address and port with a hw_id (and format): a restarted daemon sends from
// a new port, so it starts a new source instead of a false gap.
type SourceSummary struct {
	From              netip.AddrPort
	HwID              uint8
	Format            intreport.Format
	reportseq.Counter // Datagrams, Lost, Reordered, Restarts, LastSeq
}

type flowKey struct {
	sw   uint32
	flow intreport.Flow
}

type flowStats struct {
	packets  uint64
	known    uint64   // reports with a hop latency
	samples  []uint64 // ring of hop latencies, ns
	next     int
	max      uint64
	lastSeen time.Time
}

type sourceKey struct {
	from   netip.AddrPort
	hwID   uint8
	format intreport.Format
}

type sourceStats struct {
	SourceSummary
}

// tally accumulates what Summary reports; the Collector's lock guards it.
type tally struct {
	datagrams, reports, malformedN, subscriberDrops uint64
	flows                                           map[flowKey]*flowStats
	drops                                           map[uint8]uint64
	sources                                         map[sourceKey]*sourceStats
}

func newTally() tally {
	return tally{
		flows:   map[flowKey]*flowStats{},
		drops:   map[uint8]uint64{},
		sources: map[sourceKey]*sourceStats{},
	}
}

func (t *tally) malformed() { t.malformedN++ }

func (t *tally) datagram(from netip.AddrPort, d *intreport.Datagram) {
	t.datagrams++
	k := sourceKey{from, d.HwID, d.Format}
	s := t.sources[k]
	if s == nil {
		s = &sourceStats{SourceSummary: SourceSummary{From: from, HwID: d.HwID, Format: d.Format}}
		t.sources[k] = s
	}
	s.Observe(d.Seq, d.Format.SeqMask())
}

func (t *tally) report(r *Received) {
	t.reports++
	if r.Kind == intreport.KindDrop {
		t.drops[r.DropReason]++
		return
	}
	k := flowKey{r.SwitchID, r.Flow}
	f := t.flows[k]
	if f == nil {
		if len(t.flows) >= maxFlows {
			t.evictOldestFlow()
		}
		f = &flowStats{}
		t.flows[k] = f
	}
	f.packets++
	f.lastSeen = r.At
	lat, ok := r.HopLatency()
	if !ok {
		return // unknown, not 0: left out of the latency figures
	}
	f.known++
	f.max = max(f.max, lat)
	if len(f.samples) < latencySamples {
		f.samples = append(f.samples, lat)
	} else {
		f.samples[f.next] = lat
		f.next = (f.next + 1) % latencySamples
	}
}

func (t *tally) evictOldestFlow() {
	var oldest flowKey
	var at time.Time
	first := true
	for k, f := range t.flows {
		if first || f.lastSeen.Before(at) {
			oldest, at, first = k, f.lastSeen, false
		}
	}
	delete(t.flows, oldest)
}

// percentile is the nearest-rank percentile p (0-100) of sorted samples.
func percentile(sorted []uint64, p int) uint64 {
	if len(sorted) == 0 {
		return 0
	}
	rank := (p*len(sorted) + 99) / 100 // ceil(p/100 * n)
	return sorted[max(rank, 1)-1]
}

func (t *tally) snapshot() Summary {
	s := Summary{Datagrams: t.datagrams, Reports: t.reports, Malformed: t.malformedN, SubscriberDrops: t.subscriberDrops}
	for k, f := range t.flows {
		sorted := slices.Clone(f.samples)
		slices.Sort(sorted)
		s.Flows = append(s.Flows, FlowSummary{
			SwitchID: k.sw, Flow: k.flow, Packets: f.packets, HopReports: f.known, LastSeen: f.lastSeen,
			HopP50: time.Duration(percentile(sorted, 50)),
			HopP99: time.Duration(percentile(sorted, 99)),
			HopMax: time.Duration(f.max),
		})
	}
	slices.SortFunc(s.Flows, func(a, b FlowSummary) int {
		if c := cmp.Compare(b.Packets, a.Packets); c != 0 {
			return c
		}
		return cmp.Compare(a.Flow.String(), b.Flow.String())
	})
	for code, n := range t.drops {
		s.Drops = append(s.Drops, DropSummary{Reason: code, Name: intreport.DropReasonName(code), Count: n})
	}
	slices.SortFunc(s.Drops, func(a, b DropSummary) int { return cmp.Compare(a.Reason, b.Reason) })
	for _, src := range t.sources {
		s.Sources = append(s.Sources, src.SourceSummary)
	}
	slices.SortFunc(s.Sources, func(a, b SourceSummary) int {
		if c := a.From.Compare(b.From); c != 0 {
			return c
		}
		return cmp.Compare(a.HwID, b.HwID)
	})
	return s
}
