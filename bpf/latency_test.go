package bpf

import (
	"encoding/binary"
	"testing"
	"time"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/ringbuf"
	"github.com/podint/podint/bpf/internal/bpftest"
	"github.com/podint/podint/bpf/pins"
)

// pairHeld runs a packet through the ingress probe, holds it for hold, and
// through the egress probe, as a packet a queue held between the node's
// ports; it tries again until the egress run pairs with the ingress record
// (see pairAttempts) and returns the events of the paired run.
func pairHeld(t *testing.T, p *Collection, rd *ringbuf.Reader, frame []byte, hold time.Duration) []Event {
	t.Helper()
	return pairThrough(t, p, rd, p.Program(pins.Ingress), frame, hold)
}

// pairThrough is pairHeld with the packet recorded by the probe in, an
// ingress probe.
func pairThrough(t *testing.T, p *Collection, rd *ringbuf.Reader, in *ebpf.Program, frame []byte, hold time.Duration) []Event {
	t.Helper()
	for i := 0; i < 200; i++ {
		before, err := p.Counters()
		if err != nil {
			t.Fatal(err)
		}
		runProbe(t, in, frame)
		time.Sleep(hold)
		runEgressFromLoopback(t, p, frame)
		after, err := p.Counters()
		if err != nil {
			t.Fatal(err)
		}
		evs := drain(t, rd)
		if after[probeCounterCOUNTER_INGRESS_UNKNOWN] == before[probeCounterCOUNTER_INGRESS_UNKNOWN] {
			return evs
		}
	}
	t.Fatalf("the egress run never met the ingress run's sk_buff")
	return nil
}

// runEgressFromLoopback runs the egress probe on a packet whose sk_buff
// says it came in through the loopback (ifindex 1), the device test runs
// use: a run that misses the ingress record then reports the flow's
// ingress port unchanged, as a live packet's sk_buff would, instead of a
// port change to 0 that would be reported and restart the rate limit.
func runEgressFromLoopback(t *testing.T, p *Collection, frame []byte) {
	t.Helper()
	runEgressFrom(t, p, frame, 1)
}

// runEgressFrom runs the egress probe on a packet whose sk_buff says it
// came in through device ifindex.
func runEgressFrom(t *testing.T, p *Collection, frame []byte, ifindex uint32) {
	t.Helper()
	ctx := make([]byte, 192)                         // struct __sk_buff
	binary.LittleEndian.PutUint32(ctx[36:], ifindex) // ingress_ifindex
	ret, err := p.Program(pins.Egress).Run(&ebpf.RunOptions{Data: frame, Context: ctx, Repeat: 1})
	if err != nil {
		t.Fatalf("test run: %v", err)
	}
	if ret != tcxNext {
		t.Fatalf("verdict %d: the probe changed the packet's fate", int32(ret))
	}
}

func causes(evs []Event) (all uint8) {
	for _, ev := range evs {
		all |= ev.Cause
	}
	return all
}

// A hop latency step is reported before the next interval; a change by less
// than a factor of 2 is not a change; a step back down from a level a later
// report confirmed is reported too.
func TestALatencyStepIsReportedWithinAnIntervalAndJitterIsNot(t *testing.T) {
	p, rd, s := loadForLatency(t)
	frame := tcpFrame(t, podA, podB, 40000, 8080, 1000)
	quarter := s.ReportInterval/4 + 20*time.Millisecond

	if c := causes(pairHeld(t, p, rd, frame, 0)); c&CauseNewFlow == 0 {
		t.Fatalf("first packet: causes %#x, want a new flow", c)
	}
	time.Sleep(quarter)
	evs := pairHeld(t, p, rd, frame, 50*time.Millisecond)
	if c := causes(evs); c&CauseLatency == 0 {
		t.Fatalf("a packet held 50 ms after packets held for none: causes %#x, want a latency change", c)
	}
	if lat := evs[len(evs)-1].EgressTs - evs[len(evs)-1].IngressTs; lat < uint64(50*time.Millisecond) {
		t.Fatalf("reported hop latency %d ns, want at least the 50 ms hold", lat)
	}
	time.Sleep(quarter)
	if c := causes(pairHeld(t, p, rd, frame, 40*time.Millisecond)); c&CauseLatency != 0 {
		t.Fatalf("40 ms after a report of 50 ms: causes %#x, want no latency change (less than a factor of 2)", c)
	}
	time.Sleep(s.ReportInterval)
	if c := causes(pairHeld(t, p, rd, frame, 50*time.Millisecond)); c&CauseInterval == 0 {
		t.Fatalf("held 50 ms an interval after the step: causes %#x, want the interval report", c)
	}
	time.Sleep(quarter)
	if c := causes(pairHeld(t, p, rd, frame, 0)); c&CauseLatency == 0 {
		t.Fatalf("back to no hold after 50 ms held for an interval: causes %#x, want a latency change", c)
	}
	counters, err := p.Counters()
	if err != nil {
		t.Fatal(err)
	}
	if counters[probeCounterCOUNTER_EVENTS_LATENCY] < 2 || counters[probeCounterCOUNTER_EVENTS_NEW_FLOW] != 1 {
		t.Fatalf("events_latency %d, events_new_flow %d: want the two latency changes and the one new flow counted",
			counters[probeCounterCOUNTER_EVENTS_LATENCY], counters[probeCounterCOUNTER_EVENTS_NEW_FLOW])
	}
}

// A latency spike, a rise and a fall back before the flow's next report, is
// reported by its rise; the fall is carried by the next report (at the
// latest the interval's), and the next spike is reported again.
func TestALatencySpikeIsReportedOnce(t *testing.T) {
	p, rd, s := loadForLatency(t)
	frame := tcpFrame(t, podA, podB, 40001, 8080, 1000)
	quarter := s.ReportInterval/4 + 20*time.Millisecond

	if c := causes(pairHeld(t, p, rd, frame, 0)); c&CauseNewFlow == 0 {
		t.Fatalf("first packet: causes %#x, want a new flow", c)
	}
	for spike := 1; spike <= 2; spike++ {
		time.Sleep(quarter)
		if c := causes(pairHeld(t, p, rd, frame, 50*time.Millisecond)); c&CauseLatency == 0 {
			t.Fatalf("spike %d: a packet held 50 ms: causes %#x, want a latency change", spike, c)
		}
		time.Sleep(quarter)
		if c := causes(pairHeld(t, p, rd, frame, 0)); c&CauseLatency != 0 {
			t.Fatalf("spike %d: back to no hold right after the rise: causes %#x, want no latency change", spike, c)
		}
		time.Sleep(s.ReportInterval)
		evs := pairHeld(t, p, rd, frame, 0)
		if c := causes(evs); c&CauseInterval == 0 {
			t.Fatalf("spike %d: an interval later: causes %#x, want the interval report", spike, c)
		}
		if lat := evs[len(evs)-1].EgressTs - evs[len(evs)-1].IngressTs; lat >= uint64(50*time.Millisecond) {
			t.Fatalf("spike %d: the interval report's hop latency is %d ns, want the unheld packet's", spike, lat)
		}
	}
}

// loadForLatency loads the probes with a short interval (latency reports at
// most every 100 ms) and pins the test to one CPU, for pairHeld.
func loadForLatency(t *testing.T) (*Collection, *ringbuf.Reader, Settings) {
	requireRoot(t)
	s := DefaultSettings
	s.ReportInterval = 400 * time.Millisecond
	p, err := Load(bpftest.TempPinDir(t), s)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	rd, err := ringbuf.NewReader(p.Events())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { rd.Close() })
	pinCPU(t)
	return p, rd, s
}
