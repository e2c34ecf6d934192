package main

import (
	"context"
	"fmt"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	"github.com/podint/podint/bpf"
)

// The daemon pipeline: how many reports per second podintd carries from
// the ring buffer to a collector without losing one, on one core. The
// benchmark writes events into the daemon's own pinned ring buffer by test
// runs of its egress probe with the report interval at 0 (every run is an
// event, exactly what a probe writes for a real packet), at a paced rate,
// and compares what the probes wrote with what the collector received.
// Rates double until a step loses reports, then bisect; the knee is the
// fastest lossless step.

// pipelineGoal is the lossless rate each format must reach on one core.
var pipelineGoal = map[string]float64{"v0.5": 400e3, "v2.0": 600e3}

const (
	pipeStart = 25_000.0
	pipeMax   = 3_200_000.0
	// pipeTick is the pacing period: each tick writes the events due.
	pipeTick = time.Millisecond
)

func measurePipeline(ctx context.Context, b *bench) (section, error) {
	sec := section{title: fmt.Sprintf("daemon pipeline, podintd on 1 core (CPU %d)", daemonCPU())}
	if runtime.NumCPU() < 2 {
		return sec, fmt.Errorf("needs two CPUs: one for podintd, one for the producer and the collector")
	}
	restore, err := pinSelf()
	if err != nil {
		return sec, err
	}
	defer restore()
	for i, format := range []string{"v0.5", "v2.0"} {
		knee, beyond, err := b.pipelineKnee(ctx, fmt.Sprintf("pipe%d", i), format)
		if err != nil {
			return sec, fmt.Errorf("%s: %w", format, err)
		}
		goal := pipelineGoal[format]
		r := row{name: "lossless reports/s, " + format, goal: "≥ " + rate(goal)}
		if knee != nil {
			r.with = rate(knee.achieved) + "/s"
			r.figure = rate(knee.achieved) + "/s"
			r.verdict = atLeast(knee.achieved, goal)
		} else {
			r.figure, r.verdict = "none lossless", "MISSED"
		}
		sec.rows = append(sec.rows, r)
		if knee != nil {
			sec.rows = append(sec.rows, cpuRow(format, knee))
		}
		if beyond != nil {
			sec.rows = append(sec.rows, row{name: "  beyond the knee, " + format,
				with:   fmt.Sprintf("%s/s offered", rate(beyond.achieved)),
				figure: fmt.Sprintf("%s lost (%s)", pct(float64(beyond.lost)/float64(beyond.events)), beyond.where)})
		} else if knee != nil {
			sec.notes = append(sec.notes, fmt.Sprintf("%s: no loss up to %s/s, the most the producer offered", format, rate(knee.achieved)))
		}
	}
	delivery := "reading segmented sends whole (UDP_GRO), so that the kernel does not cut them into datagrams on the daemon's core"
	if b.pipelineNoGRO {
		delivery = "without UDP_GRO (--pipeline-no-gro): the kernel cuts each segmented send into datagrams and delivers them on the daemon's core"
	}
	sec.notes = append(sec.notes, fmt.Sprintf("steps of %s; collector on loopback in the node, %s; loss = events written − reports received", b.plan.pipeStep, delivery))
	return sec, nil
}

func (b *bench) pipelineKnee(ctx context.Context, name, format string) (knee, beyond *stepResult, err error) {
	args := []string{"--report-format", format}
	if b.pprofDir != "" {
		args = append(args, "--pprof-listen", pprofAddr)
	}
	n, err := b.startNode(ctx, nodeOptions{name: name, subnet: "10.25.0.0/24", oneCore: true, daemonArgs: args,
		collectorGRO: !b.pipelineNoGRO})
	if err != nil {
		return nil, nil, err
	}
	probes, err := OpenPinnedProbes(n.Paths.PinDir)
	if err != nil {
		return nil, nil, err
	}
	b.cleanup.push(func() { probes.Close() })
	if err := probes.SetReportInterval(0); err != nil {
		return nil, nil, err
	}
	p := &producer{probes: probes, frame: tcpFrame(false, 20)}
	step := func(offered float64) (stepResult, error) {
		if ctx.Err() != nil {
			return stepResult{}, ctx.Err()
		}
		r, err := b.pipelineStep(ctx, n, p, offered, format)
		if err == nil {
			b.progress("pipeline %s: offered %s/s, produced %s/s, lost %d of %d %s; podintd CPU %s, softirq %s",
				format, rate(offered), rate(r.achieved), r.lost, r.events, r.where, r.cpu.Round(time.Millisecond), r.softirq)
		}
		return r, err
	}
	return findKnee(pipeStart, pipeMax, b.plan.pipeBisect, step)
}

// producer writes events into the daemon's ring buffer at a paced rate.
type producer struct {
	probes *PinnedProbes
	frame  frame
}

// run writes rate events/s for d, in test runs of the egress probe.
func (p *producer) run(rate float64, d time.Duration) error {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	start := time.Now()
	total := uint64(rate * d.Seconds())
	var done uint64
	for done < total {
		el := min(time.Since(start), d)
		due := uint64(rate*el.Seconds()) - done
		if el == d {
			due = total - done
		}
		if due == 0 {
			time.Sleep(pipeTick / 4)
			continue
		}
		// A burst at most one tick long, so pacing stays smooth.
		k := min(due, uint64(rate*pipeTick.Seconds())+1)
		if _, _, err := p.probes.Egress.Benchmark(p.frame.b, int(k), nil); err != nil {
			return fmt.Errorf("write events: %w", err)
		}
		done += k
	}
	return nil
}

func (b *bench) pipelineStep(ctx context.Context, n *benchNode, p *producer, offered float64, format string) (stepResult, error) {
	r := stepResult{offered: offered}
	k0, err := p.probes.Counters()
	if err != nil {
		return r, err
	}
	s0, err := n.stats(ctx)
	if err != nil {
		return r, err
	}
	c0 := n.collector.reports.Load()
	drops0, err := n.collector.socketDrops()
	if err != nil {
		return r, err
	}
	cpu0, err := processCPU(n.DaemonPID())
	if err != nil {
		return r, err
	}
	soft0, err := softirqTime(daemonCPU())
	if err != nil {
		return r, err
	}
	var profiled chan error
	if b.pprofDir != "" {
		profiled = make(chan error, 1)
		path := filepath.Join(b.pprofDir, fmt.Sprintf("podintd-%s-%.0fk.pprof", format, offered/1e3))
		go func() { profiled <- profileDaemon(ctx, n.NS, b.plan.pipeStep, path) }()
	}
	t := time.Now()
	if err := p.run(offered, b.plan.pipeStep); err != nil {
		return r, err
	}
	took := time.Since(t)
	if profiled != nil {
		if err := <-profiled; err != nil {
			return r, err
		}
	}
	k1, err := p.probes.Counters()
	if err != nil {
		return r, err
	}
	written := k1[bpf.CounterEvents] - k0[bpf.CounterEvents]
	full := k1[bpf.CounterRingbufFull] - k0[bpf.CounterRingbufFull]
	r.events = written + full
	// The producer writes every event due; when it kept pace, the rate is
	// the offered one, else what it managed.
	r.achieved = float64(r.events) / max(took, b.plan.pipeStep).Seconds()
	if took < b.plan.pipeStep*21/20 {
		r.achieved = float64(r.events) / b.plan.pipeStep.Seconds()
	}
	// Let the daemon drain the ring buffer and its queues.
	var s1 map[string]uint64
	deadline := time.Now().Add(10 * time.Second)
	last, idle := n.collector.reports.Load(), 0
	for idle < 3 && time.Now().Before(deadline) {
		time.Sleep(100 * time.Millisecond)
		now := n.collector.reports.Load()
		if now == last {
			idle++
		} else {
			idle, last = 0, now
		}
	}
	cpu1, err := processCPU(n.DaemonPID())
	if err != nil {
		return r, err
	}
	soft1, err := softirqTime(daemonCPU())
	if err != nil {
		return r, err
	}
	r.cpu, r.softirq = cpu1-cpu0, soft1-soft0
	if s1, err = n.stats(ctx); err != nil {
		return r, err
	}
	received := n.collector.reports.Load() - c0
	drops1, err := n.collector.socketDrops()
	if err != nil {
		return r, err
	}
	if received < r.events {
		r.lost = r.events - received
	}
	delta := func(k string) uint64 { return s1[k] - s0[k] }
	var where []string
	for _, c := range []struct {
		name string
		v    uint64
	}{
		{"ring buffer full", full},
		{"send queue full", delta("reports_dropped_queue_full")},
		{"send errors", delta("datagram_send_errors")},
		{"collector socket", drops1 - drops0},
	} {
		if c.v > 0 {
			where = append(where, fmt.Sprintf("%s %d", c.name, c.v))
		}
	}
	r.where = strings.Join(where, ", ")
	return r, nil
}

// cpuRow is what a report costs the daemon's core at the knee, from the
// scheduler's accounting rather than from the rate the machine's other
// work left it: podintd's own CPU time, and the softirq time of its core
// (the loopback delivery to the collector, which a remote collector does
// not cost), and the rate one core would carry at that cost.
func cpuRow(format string, knee *stepResult) row {
	per := knee.cpu / time.Duration(max(knee.events, 1))
	soft := knee.softirq / time.Duration(max(knee.events, 1))
	return row{name: "  CPU per report at the knee, " + format,
		with:   fmt.Sprintf("%s + %s softirq", per, soft),
		figure: fmt.Sprintf("one core: %s/s", rate(float64(time.Second)/float64(max(per+soft, 1))))}
}
