package main

import (
	"context"
	"fmt"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/podint/podint/internal/intreport"
	"github.com/podint/podint/test/harness"
)

// The collector stage: how many reports per second podint-collector takes
// on one core without losing one, with its PostgreSQL on the same machine,
// how long a report takes to become a row (the database lag), and its
// memory at 100k live flows. The collector runs as its binary, with
// GOMAXPROCS=1, pinned to one CPU; PostgreSQL (private: initdb/pg_ctl, a
// unix socket) and the sender share the other CPU(s). The sender replays
// what a cluster's nodes send (replay.go); the rate doubles until a step
// loses a report, then bisects. Loss comes from the collector's own
// counters: reports it accounted for against reports sent, and where the
// rest went (sequence gaps, the kernel's socket drops, the path limit, the
// store's queue).

const (
	collStart = 50_000.0
	collMax   = 3_200_000.0
	// collListen and collHTTP are the collector's addresses in its namespace.
	collListen = "127.0.0.1:32766"
	collHTTP   = "127.0.0.1:9090"
)

// collPlan sizes the collector stage.
type collPlan struct {
	start, most    float64 // reports/s: the knee search's first step and its limit
	sources, flows int
	interval       time.Duration // the collector's --interval
	step           time.Duration // a step of the knee search
	bisect         int
	lagIntervals   int // the lag run's length, in intervals
	memFlows       int
	memSeconds     time.Duration
	memInterval    time.Duration
	memWait        time.Duration // after sending: the last interval written
}

func (b *bench) collPlan() collPlan {
	if b.plan.mode == "short" {
		// Memory: one open interval of 100k flows, none written yet.
		// Short: the goal's neighbourhood only, one memory run.
		return collPlan{start: 100e3, most: 800e3, sources: 100, flows: 2_000, interval: time.Second, step: 700 * time.Millisecond, bisect: 1, lagIntervals: 2,
			memFlows: 100_000, memSeconds: 2 * time.Second, memInterval: 10 * time.Second, memWait: time.Second}
	}
	// The collector's default interval (10 s), as deployed.
	return collPlan{start: collStart, most: collMax, sources: 300, flows: 20_000, interval: 10 * time.Second, step: 3 * time.Second, bisect: 3, lagIntervals: 3,
		memFlows: 100_000, memSeconds: 25 * time.Second, memInterval: 10 * time.Second, memWait: 12 * time.Second}
}

// collStep is one rate step: the knee search's stepResult and the CPU
// time the collector and PostgreSQL spent per report.
type collStep struct {
	stepResult
	collCPU, pgCPU time.Duration // per report received
}

func measureCollector(ctx context.Context, b *bench) (section, error) {
	cp := b.collPlan()
	sec := section{title: fmt.Sprintf("collector, podint-collector on 1 core (CPU %d), PostgreSQL on the others", daemonCPU())}
	restore, err := pinSelf()
	if err != nil {
		return sec, err
	}
	defer restore()
	pg, err := harness.NewPostgres(ctx)
	if err != nil {
		return sec, err
	}
	b.cleanup.push(func() { pg.Close() })
	if err := pinPostgres(pg); err != nil {
		return sec, err
	}
	ns, err := harness.NewNamespace("coll")
	if err != nil {
		return sec, err
	}
	b.cleanup.push(func() { ns.Delete() })
	for _, format := range []intreport.Format{intreport.FormatV05, intreport.FormatV20} {
		knee, beyond, l, err := b.collectorKnee(ctx, ns, pg, format, cp)
		if err != nil {
			return sec, fmt.Errorf("%s: %w", format, err)
		}
		r := row{name: "lossless reports/s into the database, " + format.String(), goal: "≥ 300k"}
		if knee != nil {
			r.with = rate(knee.achieved) + "/s"
			r.figure = rate(knee.achieved) + "/s"
			r.verdict = atLeast(knee.achieved, 300e3)
		} else {
			r.figure, r.verdict = "none lossless", "MISSED"
		}
		sec.rows = append(sec.rows, r)
		if knee != nil {
			sec.rows = append(sec.rows, row{name: "  CPU per report at the knee, " + format.String() + ": collector (PostgreSQL)",
				with:   fmt.Sprintf("%.2f µs (%.2f µs)", us(knee.collCPU), us(knee.pgCPU)),
				figure: fmt.Sprintf("%s/s per core of collector", rate(1e6/us(knee.collCPU)))})
		}
		sec.rows = append(sec.rows, row{name: fmt.Sprintf("  database lag at %s/s, %s (received → row visible)", rate(l.rate), format),
			with:   fmt.Sprintf("p50 %s, p99 %s", l.p50.Round(time.Millisecond), l.p99.Round(time.Millisecond)),
			figure: fmt.Sprintf("p99 %.2f intervals", l.p99.Seconds()/cp.interval.Seconds()),
			goal:   "≤ 2 intervals", verdict: atMost(l.p99.Seconds(), 2*cp.interval.Seconds())})
		if l.writes > 0 {
			sec.rows = append(sec.rows, row{name: fmt.Sprintf("  store write per interval (%d flow_hops rows), %s", 2*cp.flows, format),
				with:   fmt.Sprintf("%s mean of %d", l.writeMean.Round(time.Millisecond), l.writes),
				figure: fmt.Sprintf("PostgreSQL CPU %s per write", l.pgCPUPerWrite.Round(time.Millisecond))})
		}
		if l.missing > 0 {
			sec.notes = append(sec.notes, fmt.Sprintf("%s lag run: %d intervals never became visible within the wait", format, l.missing))
		}
		if beyond != nil {
			sec.rows = append(sec.rows, row{name: "  beyond the knee, " + format.String(),
				with:   fmt.Sprintf("%s/s offered", rate(beyond.achieved)),
				figure: fmt.Sprintf("%s lost (%s)", pct(float64(beyond.lost)/float64(beyond.events)), beyond.where)})
		} else if knee != nil {
			sec.notes = append(sec.notes, fmt.Sprintf("%s: no loss up to %s/s, the most the sender offered", format, rate(knee.achieved)))
		}
	}
	// As it starts, and with the soft memory limit a 256 MiB container
	// would set (GOMEMLIMIT, the Go runtime's own knob).
	limits := []string{"", "200MiB"}
	if b.plan.mode == "short" {
		limits = limits[:1]
	}
	for _, limit := range limits {
		memRows, err := b.collectorMemory(ctx, ns, pg, cp, limit)
		if err != nil {
			return sec, fmt.Errorf("memory: %w", err)
		}
		sec.rows = append(sec.rows, memRows...)
	}
	sec.notes = append(sec.notes,
		fmt.Sprintf("collector: %d sources (one UDP socket each, as nodes), %d TCP flows each reported by two of them (a path of two hops), --interval %s, steps of %s; the sender sends bursts through UDP GSO on loopback in a namespace, sequence numbers per source",
			cp.sources, cp.flows, cp.interval, cp.step),
		"collector: loss = reports sent − reports the collector accounted for, + reports it dropped at the path limit or the store's queue; CPU per report = the process's user + system time over the step / reports received (PostgreSQL: its server processes'); lag = from a report's send (≈ receipt on loopback) to its interval's batch committed, polled in write_batches every 20 ms, over a run of whole intervals; pod identity is not polled (no node topology)")
	return sec, nil
}

// startBenchCollector runs podint-collector on one core in ns.
// memLimit, if not "", is the collector's GOMEMLIMIT.
func (b *bench) startBenchCollector(ctx context.Context, ns *harness.NetNS, pg *harness.Postgres, interval time.Duration, memLimit string) (*harness.ClusterCollector, error) {
	os.Setenv("GOMAXPROCS", "1") // the child inherits it; nothing else reads it meanwhile
	if memLimit != "" {
		os.Setenv("GOMEMLIMIT", memLimit)
	}
	c, err := harness.StartClusterCollector(ctx, ns, b.binDir, collHTTP, "--listen", collListen,
		"--database-url", pg.DSN(), "--interval", interval.String(), "--node-topology-port", "0", "--retention", "0")
	os.Unsetenv("GOMAXPROCS")
	os.Unsetenv("GOMEMLIMIT")
	if err != nil {
		return nil, err
	}
	cpu := strconv.Itoa(daemonCPU())
	if err := runCmd("taskset", "-a", "-p", "-c", cpu, strconv.Itoa(c.PID())); err != nil {
		c.Close()
		return nil, fmt.Errorf("pin podint-collector to CPU %s: %w", cpu, err)
	}
	return c, nil
}

func (b *bench) collectorKnee(ctx context.Context, ns *harness.NetNS, pg *harness.Postgres, format intreport.Format, cp collPlan) (knee, beyond *collStep, lag lagFigures, err error) {
	c, err := b.startBenchCollector(ctx, ns, pg, cp.interval, "")
	if err != nil {
		return nil, nil, lag, err
	}
	defer c.Close()
	var rp *replay
	err = ns.Do(func() (err error) {
		rp, err = newReplay(format, netip.MustParseAddrPort(collListen), cp.sources, cp.flows)
		return err
	})
	if err != nil {
		return nil, nil, lag, err
	}
	defer rp.Close()
	steps := map[float64]collStep{}
	step := func(offered float64) (stepResult, error) {
		if ctx.Err() != nil {
			return stepResult{}, ctx.Err()
		}
		r, err := b.collectorStep(c, pg, rp, offered, cp.step)
		if err == nil {
			b.progress("collector %s: offered %s/s, sent %s/s, lost %d of %d %s; CPU per report: collector %s, PostgreSQL %s",
				format, rate(offered), rate(r.achieved), r.lost, r.events, r.where, r.collCPU, r.pgCPU)
		}
		steps[r.offered] = r
		return r.stepResult, err
	}
	k, bey, err := findKnee(cp.start, cp.most, cp.bisect, step)
	if err != nil {
		return nil, nil, lag, err
	}
	if k != nil {
		ks := steps[k.offered]
		knee = &ks
	}
	if bey != nil {
		bs := steps[bey.offered]
		beyond = &bs
	}
	// The database lag at the knee (at the goal if the knee is beyond it):
	// a run of a few intervals, each interval's rows awaited.
	lagRate := min(300e3, cp.start)
	if knee != nil {
		lagRate = min(300e3, knee.achieved)
	}
	lag, err = b.collectorLag(ctx, c, pg, rp, lagRate, cp)
	b.progress("collector %s: lag at %s/s: p50 %s, p99 %s", format, rate(lagRate), lag.p50.Round(time.Millisecond), lag.p99.Round(time.Millisecond))
	lag.rate = lagRate
	return knee, beyond, lag, err
}

// collectorLag sends rate reports/s for cp.lagIntervals intervals and
// measures how long each report took to become a row.
func (b *bench) collectorLag(ctx context.Context, c *harness.ClusterCollector, pg *harness.Postgres, rp *replay, rate float64, cp collPlan) (lagFigures, error) {
	// Start at an interval's start, so that every interval is whole.
	time.Sleep(time.Until(time.Now().Truncate(cp.interval).Add(cp.interval)))
	lw, err := watchBatches(ctx, pg, time.Now().Truncate(cp.interval))
	if err != nil {
		return lagFigures{}, err
	}
	defer lw.stop()
	m0, err := scrape(c)
	if err != nil {
		return lagFigures{}, err
	}
	pg0 := postgresCPU(pg)
	rp.onSend = lw.sent
	_, err = rp.run(rate, time.Duration(cp.lagIntervals)*cp.interval)
	rp.onSend = nil
	if err != nil {
		return lagFigures{}, err
	}
	l := lw.wait(cp.interval, 2*cp.interval+10*time.Second)
	m1, err := scrape(c)
	if err != nil {
		return l, err
	}
	if n := m1["podint_collector_store_write_seconds_count"] - m0["podint_collector_store_write_seconds_count"]; n > 0 {
		l.writes = int(n)
		l.writeMean = time.Duration((m1["podint_collector_store_write_seconds_sum"] - m0["podint_collector_store_write_seconds_sum"]) / n * float64(time.Second))
		l.pgCPUPerWrite = (postgresCPU(pg) - pg0) / time.Duration(n)
	}
	return l, nil
}

func (b *bench) collectorStep(c *harness.ClusterCollector, pg *harness.Postgres, rp *replay, offered float64, d time.Duration) (collStep, error) {
	r := collStep{stepResult: stepResult{offered: offered}}
	m0, err := scrape(c)
	if err != nil {
		return r, err
	}
	drops0, err := udpDrops(c.NS, collListen)
	if err != nil {
		return r, err
	}
	cpu0, pg0 := cpuTime(c.PID()), postgresCPU(pg)
	sent0 := rp.sent
	took, err := rp.run(offered, d)
	if err != nil {
		return r, err
	}
	r.events = rp.sent - sent0
	r.achieved = float64(r.events) / max(took, d).Seconds()
	if took < d*21/20 {
		r.achieved = float64(r.events) / d.Seconds()
	}
	// Let the collector drain its sockets: a while without a new report
	// (half a second in the short run).
	last, idle, quiet := m0["podint_collector_reports_total"], 0, 10
	if d < 2*time.Second {
		quiet = 5
	}
	var m1 map[string]float64
	for deadline := time.Now().Add(15 * time.Second); idle < quiet && time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		if m1, err = scrape(c); err != nil {
			return r, err
		}
		if now := m1["podint_collector_reports_total"]; now == last {
			idle++
		} else {
			idle, last = 0, now
		}
	}
	drops1, err := udpDrops(c.NS, collListen)
	if err != nil {
		return r, err
	}
	cpu1, pg1 := cpuTime(c.PID()), postgresCPU(pg)
	dm := func(k string) uint64 { return uint64(m1[k] - m0[k]) }
	received := dm("podint_collector_reports_total")
	notStored := dm("podint_collector_store_overflow_reports_total") + dm("podint_collector_path_overflow_reports_total")
	if received < r.events {
		r.lost = r.events - received
	}
	r.lost += notStored
	if received > 0 {
		r.collCPU = (cpu1 - cpu0) / time.Duration(received)
		r.pgCPU = (pg1 - pg0) / time.Duration(received)
	}
	var where []string
	for _, w := range []struct {
		name string
		v    uint64
	}{
		{"socket drops (datagrams)", drops1 - drops0},
		{"sequence gaps", dm("podint_collector_reports_lost_total")},
		{"path limit", dm("podint_collector_path_overflow_reports_total")},
		{"store queue full", dm("podint_collector_store_overflow_reports_total")},
		{"write errors", dm("podint_collector_store_write_errors_total")},
	} {
		if w.v > 0 {
			where = append(where, fmt.Sprintf("%s %d", w.name, w.v))
		}
	}
	r.where = strings.Join(where, ", ")
	return r, nil
}
