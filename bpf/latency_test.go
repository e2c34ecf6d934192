package bpf

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/ringbuf"
	"github.com/podint/podint/bpf/pins"
	"github.com/podint/podint/internal/bpftest"
)

// pairRun is what pairThrough saw: the events of the run that paired, those
// of every attempt, and the paired run's span: the time from before its
// ingress run to after its egress run, more than its hop latency.
type pairRun struct {
	paired, all []Event
	span        time.Duration
}

// restarted says whether an attempt that missed its ingress record was
// reported before the paired run: such a report (the interval's, on a busy
// machine) restarts the flow's rate limit.
func (r pairRun) restarted() bool { return len(r.all) > len(r.paired) }

// pairHeld runs a packet through the ingress probe, holds it for hold, and
// through the egress probe, as a packet a queue held between the node's
// ports; it tries again until the egress run pairs with the ingress record
// (see pairAttempts) and returns the events of the paired run.
func pairHeld(t *testing.T, p *Collection, rd *ringbuf.Reader, frame []byte, hold time.Duration) []Event {
	t.Helper()
	return pairThrough(t, p, rd, p.Program(pins.Ingress), frame, hold).paired
}

// pairThrough is pairHeld with the packet recorded by the probe in, an
// ingress probe. Each attempt is another packet of the flow (its IPv4 ID
// differs): an egress run that meets an earlier attempt's record is
// refused, not paired with a hold longer than hold.
func pairThrough(t *testing.T, p *Collection, rd *ringbuf.Reader, in *ebpf.Program, frame []byte, hold time.Duration) pairRun {
	t.Helper()
	frame = bytes.Clone(frame)
	var r pairRun
	for i := 0; i < 200; i++ {
		binary.BigEndian.PutUint16(frame[14+4:], uint16(i)) // IPv4 ID
		before, err := p.Counters()
		if err != nil {
			t.Fatal(err)
		}
		start := time.Now()
		runProbe(t, in, frame)
		time.Sleep(hold)
		runEgressFromLoopback(t, p, frame)
		span := time.Since(start)
		after, err := p.Counters()
		if err != nil {
			t.Fatal(err)
		}
		evs := drain(t, rd)
		r.all = append(r.all, evs...)
		if after[probeCounterCOUNTER_INGRESS_UNKNOWN] == before[probeCounterCOUNTER_INGRESS_UNKNOWN] {
			r.paired, r.span = evs, span
			return r
		}
	}
	t.Fatalf("the egress run never met the ingress run's sk_buff")
	return r
}

// runEgressFromLoopback runs the egress probe on a packet whose sk_buff
// says it came in through the loopback (ifindex 1), the device test runs
// use, as the ingress probe's record says.
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

func latencyOf(ev Event) time.Duration { return time.Duration(ev.EgressTs - ev.IngressTs) }

// errBusy: this machine kept a test packet in the probes so much longer
// than its hold (a busy CPU, between the test runs) that the step cannot
// tell a change from none; the scenario runs again on another flow.
var errBusy = errors.New("a packet took too long to tell")

// latencyScenario runs scenario on a new flow from port until one run is
// not spoiled by a busy machine (errBusy); it fails the test on any other
// error.
func latencyScenario(t *testing.T, port uint16, scenario func(l *latencyFlow) error) {
	t.Helper()
	p, rd, s := loadForLatency(t)
	for i := uint16(0); i < 10; i++ {
		l := &latencyFlow{t: t, p: p, rd: rd, s: s, frame: tcpFrame(t, podA, podB, port+i, 8080, 1000)}
		err := l.first()
		if err == nil {
			err = scenario(l)
		}
		if err == nil {
			return
		}
		if !errors.Is(err, errBusy) {
			t.Fatal(err)
		}
		t.Logf("flow %d: %v", i, err)
	}
	t.Fatalf("every flow was spoiled by a busy machine")
}

// latencyFlow is one flow of a latency scenario and the latency its last
// report carried.
type latencyFlow struct {
	t        *testing.T
	p        *Collection
	rd       *ringbuf.Reader
	s        Settings
	frame    []byte
	reported time.Duration
}

// quarter: the latency rate limit, and some.
func (l *latencyFlow) quarter() time.Duration { return l.s.ReportInterval/4 + 20*time.Millisecond }

// first runs the flow's first packet, paired: the new flow, reported with
// the latency of a packet held for none.
func (l *latencyFlow) first() error {
	r := pairThrough(l.t, l.p, l.rd, l.p.Program(pins.Ingress), l.frame, 0)
	if r.restarted() || causes(r.paired)&CauseNewFlow == 0 {
		return fmt.Errorf("the first packet was not reported paired as a new flow: %w", errBusy)
	}
	l.reported = latencyOf(r.paired[len(r.paired)-1])
	return nil
}

// step waits, runs a packet held for hold, and returns the events of its
// paired run and the run's span; a run that came less than wait after the
// flow's last report is busy.
func (l *latencyFlow) step(hold, wait time.Duration) ([]Event, time.Duration, error) {
	time.Sleep(wait)
	r := pairThrough(l.t, l.p, l.rd, l.p.Program(pins.Ingress), l.frame, hold)
	if r.restarted() {
		return nil, 0, fmt.Errorf("an unpaired packet was reported first: %w", errBusy)
	}
	if len(r.paired) > 0 {
		l.reported = latencyOf(r.paired[len(r.paired)-1])
	}
	return r.paired, r.span, nil
}

// rise: a packet held for hold a quarter interval after the last report,
// which carried less than hold / 2: a latency change.
func (l *latencyFlow) rise(hold time.Duration) error {
	if l.reported >= hold/2 {
		return fmt.Errorf("the last report carried %s, not under half of a %s hold: %w", l.reported, hold, errBusy)
	}
	evs, _, err := l.step(hold, l.quarter())
	if err != nil {
		return err
	}
	if c := causes(evs); c&CauseLatency == 0 {
		return fmt.Errorf("a packet held %s after a report of %s: causes %#x, want a latency change", hold, l.reported, c)
	}
	if l.reported < hold {
		return fmt.Errorf("reported hop latency %s, want at least the %s hold", l.reported, hold)
	}
	return nil
}

// intervalReport runs a packet held for hold an interval after the last
// report until its paired run is the interval report: an attempt that
// missed its ingress record may take the interval (unpaired, it leaves the
// flow's reported latency as it was).
func (l *latencyFlow) intervalReport(hold time.Duration) error {
	for i := 0; i < 10; i++ {
		evs, _, err := l.step(hold, l.s.ReportInterval)
		if err == nil && causes(evs)&CauseInterval != 0 {
			return nil
		}
	}
	return fmt.Errorf("held %s an interval after the last report: never the interval report, paired: %w", hold, errBusy)
}

// A hop latency step is reported before the next interval; a change by less
// than a factor of 2 is not a change; a step back down from a level a later
// report confirmed is reported too.
func TestALatencyStepIsReportedWithinAnIntervalAndJitterIsNot(t *testing.T) {
	const hold = 50 * time.Millisecond
	latencyScenario(t, 40000, func(l *latencyFlow) error {
		if err := l.rise(hold); err != nil {
			return err
		}
		level := l.reported
		if level >= 80*time.Millisecond {
			return fmt.Errorf("the step was reported at %s, a 40 ms hold would be a fall: %w", level, errBusy)
		}
		evs, span, err := l.step(40*time.Millisecond, l.quarter())
		if err != nil {
			return err
		}
		if span >= 2*level {
			return fmt.Errorf("a 40 ms hold took %s: %w", span, errBusy)
		}
		if c := causes(evs); c&CauseLatency != 0 {
			return fmt.Errorf("40 ms after a report of %s: causes %#x, want no latency change (less than a factor of 2)", level, c)
		}
		if err := l.intervalReport(hold); err != nil {
			return err
		}
		if l.reported > 2*level {
			return fmt.Errorf("the interval report carried %s after a step of %s, another rise: %w", l.reported, level, errBusy)
		}
		level = l.reported
		evs, span, err = l.step(0, l.quarter())
		if err != nil {
			return err
		}
		if span >= level/2 {
			return fmt.Errorf("an unheld packet took %s: %w", span, errBusy)
		}
		if c := causes(evs); c&CauseLatency == 0 {
			return fmt.Errorf("back to no hold after %s held for an interval: causes %#x, want a latency change", level, c)
		}
		counters, err := l.p.Counters()
		if err != nil {
			return err
		}
		if counters[probeCounterCOUNTER_EVENTS_LATENCY] < 2 || counters[probeCounterCOUNTER_EVENTS_NEW_FLOW] < 1 {
			return fmt.Errorf("events_latency %d, events_new_flow %d: want the two latency changes and the new flow counted",
				counters[probeCounterCOUNTER_EVENTS_LATENCY], counters[probeCounterCOUNTER_EVENTS_NEW_FLOW])
		}
		return nil
	})
}

// A latency spike, a rise and a fall back before the flow's next report, is
// reported by its rise; the fall is carried by the next report (at the
// latest the interval's), and the next spike is reported again.
func TestALatencySpikeIsReportedOnce(t *testing.T) {
	const hold = 50 * time.Millisecond
	latencyScenario(t, 41000, func(l *latencyFlow) error {
		for spike := 1; spike <= 2; spike++ {
			if err := l.rise(hold); err != nil {
				return fmt.Errorf("spike %d: %w", spike, err)
			}
			evs, _, err := l.step(0, l.quarter())
			if err != nil {
				return err
			}
			if c := causes(evs); c&CauseLatency != 0 {
				return fmt.Errorf("spike %d: back to no hold right after the rise: causes %#x, want no latency change", spike, c)
			}
			if err := l.intervalReport(0); err != nil {
				return fmt.Errorf("spike %d: %w", spike, err)
			}
		}
		return nil
	})
}

// loadForLatency loads the probes with the default interval (latency
// reports at most every 250 ms: room for the attempts of a 50 ms hold
// before the interval is due) and pins the test to one CPU, for pairHeld.
func loadForLatency(t *testing.T) (*Collection, *ringbuf.Reader, Settings) {
	requireRoot(t)
	s := DefaultSettings
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
