// Package reports fans the reports the daemon sends out to live
// subscribers (podintctl watch, through the API's Reports stream). The
// pipeline never waits for a subscriber: each has a bounded buffer, and
// what does not fit is dropped and counted, for the subscriber and in total.
package reports

import (
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/podint/podint/bpf"
	"github.com/podint/podint/internal/intreport"
	podintv1 "github.com/podint/podint/proto/podint/v1"
)

// DefaultBuffer is how many reports wait for one subscriber before the
// newest are dropped for it.
const DefaultBuffer = 1024

// Filter selects the reports a subscriber gets.
type Filter struct {
	// IP selects reports whose flow has this source or destination, before
	// or after NAT (a Service's ClusterIP selects its connections); invalid
	// = any.
	IP        netip.Addr
	DropsOnly bool
}

func (f Filter) match(ev *bpf.Event, r *intreport.Report) bool {
	if f.DropsOnly && r.Kind != intreport.KindDrop {
		return false
	}
	if !f.IP.IsValid() || r.Flow.Src == f.IP || r.Flow.Dst == f.IP {
		return true
	}
	if ev.CtDir == bpf.CtNone {
		return false
	}
	ip := f.IP.As16() // v4-mapped for IPv4, as the probes store addresses
	return ev.PreNat.Saddr == ip || ev.PreNat.Daddr == ip
}

// Hub delivers published reports to subscribers. Its methods are safe for
// concurrent use.
type Hub struct {
	buffer int

	mu   sync.RWMutex
	subs map[*Subscription]struct{}
	n    atomic.Int32 // len(subs), read without the lock on the hot path

	delivered atomic.Uint64
	dropped   atomic.Uint64
}

// NewHub returns a hub giving each subscriber a buffer of that many
// reports (DefaultBuffer when 0).
func NewHub(buffer int) *Hub {
	if buffer <= 0 {
		buffer = DefaultBuffer
	}
	return &Hub{buffer: buffer, subs: map[*Subscription]struct{}{}}
}

// Subscription is one subscriber's stream.
type Subscription struct {
	hub     *Hub
	filter  Filter
	c       chan *podintv1.ReportEvent
	skipped atomic.Uint64
}

// Subscribe starts a stream of the reports filter selects; Close ends it.
func (h *Hub) Subscribe(filter Filter) *Subscription {
	s := &Subscription{hub: h, filter: filter, c: make(chan *podintv1.ReportEvent, h.buffer)}
	h.mu.Lock()
	h.subs[s] = struct{}{}
	h.n.Store(int32(len(h.subs)))
	h.mu.Unlock()
	return s
}

// C delivers the reports. Events are shared between subscribers: do not
// change them.
func (s *Subscription) C() <-chan *podintv1.ReportEvent { return s.c }

// TakeSkipped returns how many reports were dropped for this subscriber
// since the last call.
func (s *Subscription) TakeSkipped() uint64 { return s.skipped.Swap(0) }

// Close ends the subscription.
func (s *Subscription) Close() {
	h := s.hub
	h.mu.Lock()
	delete(h.subs, s)
	h.n.Store(int32(len(h.subs)))
	h.mu.Unlock()
}

// Publish offers a report to every subscriber. Without subscribers it costs
// one atomic load; with them, one conversion shared by all.
func (h *Hub) Publish(ev *bpf.Event, r *intreport.Report) {
	if h.n.Load() == 0 {
		return
	}
	var msg *podintv1.ReportEvent
	h.mu.RLock()
	defer h.mu.RUnlock()
	for s := range h.subs {
		if !s.filter.match(ev, r) {
			continue
		}
		if msg == nil {
			msg = Event(ev, r, time.Now())
		}
		select {
		case s.c <- msg:
			h.delivered.Add(1)
		default:
			s.skipped.Add(1)
			h.dropped.Add(1)
		}
	}
}

// Subscribers is the number of open subscriptions.
func (h *Hub) Subscribers() int { return int(h.n.Load()) }

// Delivered counts reports put in a subscriber's buffer.
func (h *Hub) Delivered() uint64 { return h.delivered.Load() }

// Dropped counts reports a subscriber's full buffer had no room for.
func (h *Hub) Dropped() uint64 { return h.dropped.Load() }

// Event is the API's view of a report built from ev.
func Event(ev *bpf.Event, r *intreport.Report, now time.Time) *podintv1.ReportEvent {
	msg := &podintv1.ReportEvent{
		Kind: podintv1.ReportEvent_KIND_FLOW,
		Flow: &podintv1.Flow{
			Src: addrString(r.Flow.Src), Dst: addrString(r.Flow.Dst), Proto: uint32(r.Flow.Proto),
			SrcPort: uint32(r.Flow.SrcPort), DstPort: uint32(r.Flow.DstPort),
		},
		IngressPort:  r.IngressPort,
		EgressPort:   r.EgressPort,
		IngressTs:    r.IngressTS,
		EgressTs:     r.EgressTS,
		Packets:      ev.Packets,
		Bytes:        ev.Bytes,
		TimeUnixNano: now.UnixNano(),
		Nat:          translation(ev, r.Flow),
	}
	if r.Kind == intreport.KindDrop {
		msg.Kind = podintv1.ReportEvent_KIND_DROP
		msg.DropReason = uint32(r.DropReason)
		msg.DropReasonName = intreport.DropReasonName(r.DropReason)
		msg.KernelDropReason = ev.DropReason
		msg.KernelDropReasonName = bpf.KernelDropReasonName(ev.DropReason)
	} else if lat, ok := r.HopLatency(); ok { // absent: no probed ingress port timed the packet
		msg.HopLatencyNs = &lat
	}
	return msg
}

func addrString(a netip.Addr) string {
	if !a.IsValid() {
		return ""
	}
	return a.String()
}
