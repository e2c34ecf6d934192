package main

import (
	"context"
	"fmt"
	"net/netip"
	"runtime"
	"time"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
	"github.com/cilium/ebpf/ringbuf"

	"github.com/podint/podint/bpf"
	"github.com/podint/podint/bpf/attach"
	"github.com/podint/podint/bpf/pins"
	"github.com/podint/podint/internal/intreport"
)

// tcxNext is what every probe returns (TCX_NEXT, TC_ACT_UNSPEC): continue.
const tcxNext = uint32(0xffffffff)

// ringChunk is how many events a test-run call may write before the ring
// buffer (4 MiB, about 11.6k events of 360 bytes) is drained.
const ringChunk = 8192

// bpfPath is one program on one path through it, measured in rounds.
type bpfPath struct {
	name    string
	goal    string // "steady", "report" or "" (the baselines)
	prog    *ebpf.Program
	frame   frame
	perCall bool // one run per call, a new flow each: the path a new flow takes
	base    *bpfPath
	probes  *bpf.Collection // whose counters show the path was taken; nil for the empty program
	expect  int             // the counter every run of this path increments
	ring    *ringbuf.Reader // drained between calls when the path writes events
	next    uint32

	samples       []float64 // mean ns per run, one per round
	runs, checked uint64    // runs, and runs that incremented expect
	ringFull      uint64
}

// round runs the path n times and records the mean ns per run the kernel
// measured (BPF_PROG_TEST_RUN times the loop around the program, in ns).
func (p *bpfPath) round(n int) error {
	var before []uint64
	if p.probes != nil {
		c, err := p.probes.Counters()
		if err != nil {
			return err
		}
		before = c
	}
	var total time.Duration
	if p.perCall {
		for i := 0; i < n; i++ {
			p.frame.setFlow(p.next)
			p.next++
			ret, d, err := p.prog.Benchmark(p.frame.b, 1, nil)
			if err != nil {
				return fmt.Errorf("%s: %w", p.name, err)
			}
			if ret != tcxNext {
				return errFate
			}
			total += d
			if p.ring != nil && i%ringChunk == ringChunk-1 {
				drain(p.ring)
			}
		}
	} else {
		chunk := n
		if p.ring != nil {
			chunk = ringChunk
		}
		for done := 0; done < n; {
			k := min(chunk, n-done)
			ret, d, err := p.prog.Benchmark(p.frame.b, k, nil)
			if err != nil {
				return fmt.Errorf("%s: %w", p.name, err)
			}
			if ret != tcxNext {
				return errFate
			}
			total += d * time.Duration(k)
			done += k
			if p.ring != nil {
				drain(p.ring)
			}
		}
	}
	if p.ring != nil {
		drain(p.ring)
	}
	p.samples = append(p.samples, float64(total)/float64(n))
	if p.probes != nil {
		after, err := p.probes.Counters()
		if err != nil {
			return err
		}
		p.runs += uint64(n)
		p.checked += after[p.expect] - before[p.expect]
		p.ringFull += after[bpf.CounterRingbufFull] - before[bpf.CounterRingbufFull]
	}
	return nil
}

// clockTC reads the clock and continues: every probe that timestamps a
// packet pays at least this, so it shows the floor of a hook's cost.
func clockTC() (*ebpf.Program, error) {
	return ebpf.NewProgram(&ebpf.ProgramSpec{
		Name: "bench_clock", Type: ebpf.SchedCLS, License: "MIT",
		Instructions: asm.Instructions{asm.FnKtimeGetNs.Call(), asm.Mov.Imm(asm.R0, -1), asm.Return()},
	})
}

// emptyTC is a TC program that does nothing and continues: what the
// test-run machinery costs by itself, measured the same way.
func emptyTC() (*ebpf.Program, error) {
	return ebpf.NewProgram(&ebpf.ProgramSpec{
		Name: "bench_empty", Type: ebpf.SchedCLS, License: "MIT",
		Instructions: asm.Instructions{asm.Mov.Imm(asm.R0, -1), asm.Return()},
	})
}

func measureBPFCost(ctx context.Context, b *bench) (section, error) {
	pl := b.plan
	sec := section{title: "BPF ns per packet (BPF_PROG_TEST_RUN)"}
	// One OS thread for the whole stage: the program runs on the caller's CPU.
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()

	pin, err := b.bpffsDir()
	if err != nil {
		return sec, err
	}
	// Separate instances, because the report interval and the watchlist
	// are settings of a whole instance.
	steady, err := b.loadProbes(pin+"/steady", bpf.DefaultSettings)
	if err != nil {
		return sec, err
	}
	unwatched, err := b.loadProbes(pin+"/unwatched", bpf.DefaultSettings)
	if err != nil {
		return sec, err
	}
	miss := []bpf.WatchRule{{Proto: 6, Dst: netip.MustParsePrefix("192.0.2.0/24")}}
	if err := unwatched.SetWatchlist(miss); err != nil {
		return sec, err
	}
	every := bpf.DefaultSettings
	every.ReportInterval = 0
	every.SnapLen = intreport.DefaultSnapLen // what podintd captures unless told otherwise
	reporting, err := b.loadProbes(pin+"/report", every)
	if err != nil {
		return sec, err
	}
	every.SnapLen = bpf.MaxSnapLen
	reportingMax, err := b.loadProbes(pin+"/report-max", every)
	if err != nil {
		return sec, err
	}
	fresh, err := b.loadProbes(pin+"/newflow", bpf.DefaultSettings)
	if err != nil {
		return sec, err
	}
	rings := map[*bpf.Collection]*ringbuf.Reader{}
	for _, p := range []*bpf.Collection{steady, unwatched, reporting, reportingMax, fresh} {
		rd, err := ringbuf.NewReader(p.Events())
		if err != nil {
			return sec, err
		}
		b.cleanup.push(func() { rd.Close() })
		rings[p] = rd
	}
	empty, err := emptyTC()
	if err != nil {
		return sec, fmt.Errorf("load the empty TC program: %w", err)
	}
	b.cleanup.push(func() { empty.Close() })
	clock, err := clockTC()
	if err != nil {
		return sec, fmt.Errorf("load the clock TC program: %w", err)
	}
	b.cleanup.push(func() { clock.Close() })

	// Test-run packets arrive on this thread's loopback: make it a pod
	// interface, as the plugin does for a pod's eth0, for the pod-side paths.
	ino, err := attach.NetnsIno("/proc/thread-self/ns/net")
	if err != nil {
		return sec, err
	}
	if err := attach.SetPodPort(steady.PinDir(), ino, 1, 1); err != nil {
		return sec, err
	}

	v4, v6 := tcpFrame(false, 20), tcpFrame(true, 20)
	suppressed := bpf.CounterSuppressed
	events, unwatchedN := bpf.CounterEvents, counterIndex("unwatched")
	emptyRepeat := &bpfPath{name: "empty TC program", prog: empty, frame: v4}
	emptyPerCall := &bpfPath{name: "empty TC program, one run per call", prog: empty, frame: tcpFrame(false, 20), perCall: true}
	paths := []*bpfPath{
		emptyRepeat,
		{name: "for scale: reading the clock (bpf_ktime_get_ns) alone", prog: clock, frame: v4, base: emptyRepeat},
		// the ingress paths count nothing (a packet is counted where it
		// leaves): the bpf package's tests show what they record
		{name: "ingress, IPv4 TCP: parse, record in-flight", goal: "ingress", prog: steady.Program("ingress"), frame: v4,
			base: emptyRepeat},
		{name: "ingress, IPv6 TCP", goal: "ingress", prog: steady.Program("ingress"), frame: v6,
			base: emptyRepeat},
		{name: "pod-side egress, IPv4 TCP: host port lookup, parse, record in-flight", goal: "steady", prog: steady.Program(pins.PodEgress),
			frame: v4, base: emptyRepeat},
		{name: "pod-side ingress, packet the host veth paired (no record): what every delivered packet pays", goal: "steady",
			prog: steady.Program(pins.PodIngress), frame: v4, base: emptyRepeat},
		{name: "egress, IPv4 TCP, steady flow (suppressed)", goal: "steady", prog: steady.Program("egress"), frame: v4,
			base: emptyRepeat, probes: steady, expect: suppressed, ring: rings[steady]},
		{name: "egress, IPv6 TCP, steady flow (suppressed)", goal: "steady", prog: steady.Program("egress"), frame: v6,
			base: emptyRepeat, probes: steady, expect: suppressed, ring: rings[steady]},
		{name: "egress, watchlist miss (flow not selected)", goal: "steady", prog: unwatched.Program("egress"), frame: v4,
			base: emptyRepeat, probes: unwatched, expect: unwatchedN, ring: rings[unwatched]},
		{name: "egress, report path (interval 0: every run an event)", goal: "report", prog: reporting.Program("egress"), frame: v4,
			base: emptyRepeat, probes: reporting, expect: events, ring: rings[reporting]},
		{name: fmt.Sprintf("egress, report path, 1514-byte packet, snap length %d (default)", intreport.DefaultSnapLen), goal: "report",
			prog: reporting.Program("egress"), frame: tcpFrame(false, 1460), base: emptyRepeat, probes: reporting, expect: events, ring: rings[reporting]},
		{name: fmt.Sprintf("egress, report path, 1514-byte packet, snap length %d (the most)", bpf.MaxSnapLen), goal: "report",
			prog: reportingMax.Program("egress"), frame: tcpFrame(false, 1460), base: emptyRepeat, probes: reportingMax, expect: events, ring: rings[reportingMax]},
		emptyPerCall,
		{name: "egress, new flow (a new 5-tuple every run)", goal: "newflow", prog: fresh.Program("egress"), frame: tcpFrame(false, 20),
			perCall: true, base: emptyPerCall, probes: fresh, expect: events, ring: rings[fresh]},
	}
	// The first packet of a flow is not steady state: take it out of the rounds.
	for _, p := range paths {
		if _, _, err := p.prog.Benchmark(p.frame.b, 1, nil); err != nil {
			return sec, fmt.Errorf("%s: %w", p.name, err)
		}
	}
	for r := 0; r < pl.testRunRounds || r < pl.newFlowRounds; r++ {
		b.progress("bpf: round %d", r+1)
		for _, p := range paths {
			if ctx.Err() != nil {
				return sec, ctx.Err()
			}
			n := pl.testRunRuns
			if p.perCall {
				if r >= pl.newFlowRounds {
					continue
				}
				n = pl.newFlowRuns
			} else if r >= pl.testRunRounds {
				continue
			}
			if err := p.round(n); err != nil {
				return sec, err
			}
		}
	}
	for _, p := range paths {
		s := summarize(p.samples)
		if p.base == nil {
			sec.rows = append(sec.rows, row{name: p.name, without: nsRange(s) + " (baseline)"})
			continue
		}
		net := s.median - summarize(p.base.samples).median
		r := row{name: p.name, with: nsRange(s), without: ns(summarize(p.base.samples).median) + " empty", figure: fmt.Sprintf("+%.0f ns", net)}
		switch p.goal {
		case "ingress":
			r.goal, r.verdict = "≤ 35 ns", atMost(net, 35)
		case "steady":
			r.goal, r.verdict = "≤ 40 ns", atMost(net, 40)
		case "newflow":
			r.goal, r.verdict = "≤ 300 ns", atMost(net, 300)
		case "report":
			r.goal, r.verdict = "≤ 150 ns", atMost(net, 150)
		}
		sec.rows = append(sec.rows, r)
		if p.runs > 0 && float64(p.checked) < 0.99*float64(p.runs) {
			sec.notes = append(sec.notes, fmt.Sprintf("%q: only %d of %d runs took the path (counter %s)",
				p.name, p.checked, p.runs, bpf.CounterNames()[p.expect]))
		}
		if p.ringFull > 0 {
			sec.notes = append(sec.notes, fmt.Sprintf("%q: %d runs found the ring buffer full: the figure is too low", p.name, p.ringFull))
		}
	}
	sec.notes = append(sec.notes,
		"median [min–max] of the rounds' mean ns per run; figure = median net of the empty TC program measured the same way, interleaved",
		fmt.Sprintf("%d rounds of %s runs per path (new flow: %d rounds of %s calls of one run, each a new flow, against the empty program called the same way); rounds interleave the paths so noise falls on all alike",
			pl.testRunRounds, rate(float64(pl.testRunRuns)), pl.newFlowRounds, rate(float64(pl.newFlowRuns))),
		"test-run gives egress no in-flight record to pair (each call has its own sk_buff), so the steady egress figure is the unpaired path, which reads only the coarse clock; pairing a live packet adds an in-flight lookup hit and delete, and the exact clock (the clock row) for its hop latency once its flow's last report is a quarter interval old",
		"pod-side probes (docs/cni-support.md): a packet a pod sends pays the pod-side egress and the host veth's ingress; one delivered into a pod pays the host veth's egress and the pod-side ingress without a record; one a CNI redirected into the pod pays the pod-side ingress with a record, which is the egress path plus a host port lookup")
	return sec, nil
}
