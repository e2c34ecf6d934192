package main

import (
	"context"
	"fmt"
	"net/netip"
	"time"

	"github.com/podint/podint/internal/intreport"
	"github.com/podint/podint/test/harness"
)

// collectorMemory is podint-collector's resident memory with memFlows live
// flows: every flow reported by both its nodes once per second (a live
// flow reports at least once per podintd report interval), for long
// enough that intervals close and are written while the next fills, with
// the collector's default interval in the full run. v2.0, the cheaper to
// receive: memory does not depend on the format.
func (b *bench) collectorMemory(ctx context.Context, ns *harness.NetNS, pg *harness.Postgres, cp collPlan, memLimit string) ([]row, error) {
	c, err := b.startBenchCollector(ctx, ns, pg, cp.memInterval, memLimit)
	if err != nil {
		return nil, err
	}
	defer c.Close()
	idle, _, err := memoryOf(c.PID())
	if err != nil {
		return nil, err
	}
	var rp *replay
	err = ns.Do(func() (err error) {
		rp, err = newReplay(intreport.FormatV20, netip.MustParseAddrPort(collListen), cp.sources, cp.memFlows)
		return err
	})
	if err != nil {
		return nil, err
	}
	defer rp.Close()
	b.progress("collector memory: %d flows for %s", cp.memFlows, cp.memSeconds)
	var most uint64
	var depth float64 // the store queue's deepest, in intervals
	sample := func() error {
		rss, _, err := memoryOf(c.PID())
		most = max(most, rss)
		if m, err := scrape(c); err == nil {
			depth = max(depth, m["podint_collector_store_queue_depth"])
		}
		return err
	}
	perSecond := float64(2 * cp.memFlows)
	for el := time.Duration(0); el < cp.memSeconds; el += time.Second {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		if _, err := rp.run(perSecond, time.Second); err != nil {
			return nil, err
		}
		if err := sample(); err != nil {
			return nil, err
		}
	}
	// The last interval is written after it closes: memory while it is.
	for end := time.Now().Add(cp.memWait); time.Now().Before(end); time.Sleep(200 * time.Millisecond) {
		if err := sample(); err != nil {
			return nil, err
		}
	}
	m, err := scrape(c)
	if err != nil {
		return nil, err
	}
	_, peak, err := memoryOf(c.PID())
	if err != nil {
		return nil, err
	}
	lost := float64(rp.sent) - m["podint_collector_reports_total"]
	with := "no GOMEMLIMIT"
	if memLimit != "" {
		with = "GOMEMLIMIT=" + memLimit
	}
	rows := []row{
		{name: fmt.Sprintf("collector VmRSS, %s live flows (2 hops each, --interval %s), %s", rate(float64(cp.memFlows)), cp.memInterval, with),
			with: mib(float64(most)) + " most seen", without: mib(float64(idle)) + " idle", figure: mib(float64(most)), goal: "≤ 256 MiB", verdict: atMost(float64(most), 256<<20)},
		{name: "  collector peak (VmHWM)", with: mib(float64(peak)), figure: mib(float64(peak))},
		{name: "  Go heap in use at the end", with: mib(m["go_memstats_heap_inuse_bytes"]), figure: mib(m["go_memstats_heap_inuse_bytes"])},
	}
	rows = append(rows, row{name: "  store queue, deepest (intervals waiting for the database)", with: fmt.Sprintf("%.0f", depth), figure: fmt.Sprintf("%.0f", depth)})
	if lost > 0 {
		rows = append(rows, row{name: "  reports not received during the memory run", figure: fmt.Sprintf("%.0f of %d", lost, rp.sent)})
	}
	return rows, nil
}
