package demo

import (
	"context"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/podint/podint/cli/collect"
	podintv1 "github.com/podint/podint/proto/podint/v1"
	"github.com/podint/podint/test/harness"
)

// liveView redraws the demo's state every second: reports per second,
// flows with hop latency, drops by reason, and every loss counter.
func liveView(ctx context.Context, w io.Writer, col *collect.Collector, c *harness.Cluster) error {
	start := time.Now()
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	var lastReports uint64
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-tick.C:
		}
		s := col.Summary()
		var b strings.Builder
		b.WriteString("\x1b[H\x1b[2J") // home, clear
		fmt.Fprintf(&b, "podint demo: 2 nodes, VXLAN overlay, %s elapsed, %d reports (%d/s); Ctrl-C to stop\n\n",
			time.Since(start).Round(time.Second), s.Reports, s.Reports-lastReports)
		lastReports = s.Reports
		collect.WriteSummary(&b, s, time.Now(), 14)
		fmt.Fprintln(&b)
		writeLosses(ctx, &b, c)
		io.WriteString(w, b.String())
	}
}

// lossCounters are the counters where an event or report can be lost.
var lossCounters = []string{"kernel_ringbuf_full", "events_malformed", "datagram_send_errors", "reports_dropped_queue_full"}

func writeLosses(ctx context.Context, w io.Writer, c *harness.Cluster) {
	fmt.Fprintln(w, "LOSS COUNTERS")
	for _, n := range c.Nodes {
		vals := map[string]uint64{}
		if cl, closeFn, err := n.Client(); err == nil {
			cctx, cancel := context.WithTimeout(ctx, time.Second)
			if st, err := cl.Stats(cctx, &podintv1.StatsRequest{}); err == nil {
				for _, ct := range st.GetCounters() {
					vals[ct.GetName()] += ct.GetValue()
				}
			}
			cancel()
			closeFn()
		}
		fmt.Fprintf(w, "  %s:", n.Config.Name)
		for _, name := range lossCounters {
			fmt.Fprintf(w, " %s=%d", name, vals[name])
		}
		fmt.Fprintf(w, "  (events %d, suppressed by the filter %d)\n", vals["kernel_events"], vals["kernel_suppressed"])
	}
}
