package reports

import (
	"net/netip"
	"testing"

	"github.com/podint/podint/bpf"
	"github.com/podint/podint/internal/intreport"
	podintv1 "github.com/podint/podint/proto/podint/v1"
)

func report(kind intreport.Kind, src, dst string) (*bpf.Event, *intreport.Report) {
	r := &intreport.Report{Kind: kind, IngressPort: 3, EgressPort: 4, IngressTS: 1000, EgressTS: 3500,
		Flow: intreport.Flow{Src: netip.MustParseAddr(src), Dst: netip.MustParseAddr(dst), Proto: intreport.ProtoUDP,
			SrcPort: 4000, DstPort: 53}}
	ev := &bpf.Event{Packets: 7, Bytes: 700}
	if kind == intreport.KindDrop {
		r.DropReason = 80
	}
	return ev, r
}

func TestFiltersSelectReports(t *testing.T) {
	h := NewHub(16)
	all := h.Subscribe(Filter{})
	byIP := h.Subscribe(Filter{IP: netip.MustParseAddr("10.0.0.9")})
	drops := h.Subscribe(Filter{DropsOnly: true})
	defer all.Close()
	defer byIP.Close()
	defer drops.Close()

	h.Publish(report(intreport.KindFlow, "10.0.0.1", "10.0.0.2"))
	h.Publish(report(intreport.KindFlow, "10.0.0.9", "10.0.0.2"))
	h.Publish(report(intreport.KindDrop, "10.0.0.1", "10.0.0.9"))

	if n := len(all.C()); n != 3 {
		t.Errorf("unfiltered subscriber got %d reports, want 3", n)
	}
	if n := len(byIP.C()); n != 2 {
		t.Errorf("--ip 10.0.0.9 got %d reports, want 2 (as source and as destination)", n)
	}
	if n := len(drops.C()); n != 1 {
		t.Errorf("--drops got %d reports, want 1", n)
	}
	ev := <-drops.C()
	if ev.GetKind() != podintv1.ReportEvent_KIND_DROP || ev.GetDropReason() != 80 || ev.GetDropReasonName() == "" {
		t.Errorf("drop event %v: want kind drop, reason 80 with its name", ev)
	}
	flow := <-all.C()
	if flow.GetHopLatencyNs() != 2500 || flow.GetPackets() != 7 || flow.GetFlow().GetSrc() != "10.0.0.1" || flow.GetFlow().GetDstPort() != 53 {
		t.Errorf("flow event %v: want hop latency 2500, 7 packets, 10.0.0.1 -> :53", flow)
	}
	<-all.C() // the second flow
	if drop := <-all.C(); drop.HopLatencyNs != nil {
		t.Errorf("drop event %v has a hop latency", drop)
	}
}

// A flow report without a probed ingress has no hop latency in the API,
// which is not a hop latency of 0.
func TestUnknownHopLatencyIsAbsent(t *testing.T) {
	h := NewHub(4)
	all := h.Subscribe(Filter{})
	defer all.Close()
	ev, r := report(intreport.KindFlow, "10.0.0.1", "10.0.0.2")
	r.NoIngress, r.IngressTS = true, r.EgressTS
	h.Publish(ev, r)
	h.Publish(report(intreport.KindFlow, "10.0.0.1", "10.0.0.2"))
	if got := <-all.C(); got.HopLatencyNs != nil {
		t.Errorf("flow event without ingress %v: want no hop latency", got)
	}
	if got := <-all.C(); got.HopLatencyNs == nil || *got.HopLatencyNs != 2500 {
		t.Errorf("flow event %v: want hop latency 2500", got)
	}
}

// A subscriber that does not read loses reports, counted for it and in
// total; Publish never blocks and the other subscribers get everything.
func TestSlowSubscriberDropsAndCounts(t *testing.T) {
	h := NewHub(4)
	slow := h.Subscribe(Filter{})
	fast := h.Subscribe(Filter{})
	defer slow.Close()
	got := 0
	for i := 0; i < 10; i++ {
		h.Publish(report(intreport.KindFlow, "10.0.0.1", "10.0.0.2"))
		for len(fast.C()) > 0 {
			<-fast.C()
			got++
		}
	}
	fast.Close()
	if got != 10 {
		t.Errorf("the reading subscriber got %d of 10", got)
	}
	if n := slow.TakeSkipped(); n != 6 {
		t.Errorf("slow subscriber skipped %d, want 6 (10 published, buffer 4)", n)
	}
	if slow.TakeSkipped() != 0 {
		t.Error("TakeSkipped does not reset")
	}
	if h.Dropped() != 6 || h.Delivered() != 14 {
		t.Errorf("hub counted %d dropped, %d delivered; want 6 and 14", h.Dropped(), h.Delivered())
	}
}

func TestClosedSubscriptionGetsNothing(t *testing.T) {
	h := NewHub(4)
	s := h.Subscribe(Filter{})
	s.Close()
	if h.Subscribers() != 0 {
		t.Fatalf("%d subscribers after Close", h.Subscribers())
	}
	h.Publish(report(intreport.KindFlow, "10.0.0.1", "10.0.0.2"))
	if len(s.C()) != 0 || h.Delivered() != 0 {
		t.Error("a closed subscription still receives reports")
	}
}

// Without subscribers the pipeline pays nothing: no allocation.
func TestPublishWithoutSubscribersDoesNotAllocate(t *testing.T) {
	h := NewHub(4)
	ev, r := report(intreport.KindFlow, "10.0.0.1", "10.0.0.2")
	if n := testing.AllocsPerRun(100, func() { h.Publish(ev, r) }); n != 0 {
		t.Errorf("Publish without subscribers allocates %.0f times per report", n)
	}
}
