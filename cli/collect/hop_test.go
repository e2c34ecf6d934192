package collect

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/podint/podint/internal/intreport"
)

// noIngressReport is a flow report of a packet no probed ingress port
// timed, as the daemon sends it: the egress time in both timestamps.
func noIngressReport() *intreport.Report {
	r := flowReport(0)
	r.NoIngress = true
	return r
}

// A report whose hop latency is unknown prints "-", has no hop_latency_ns
// in JSON, and stays out of the latency figures, in both formats.
func TestUnknownHopLatencyIsNotZero(t *testing.T) {
	for _, enc := range []struct {
		name string
		f    func(*intreport.Report, uint32) []byte
	}{
		{"v0.5", v05},
		{"v2.0", func(r *intreport.Report, seq uint32) []byte { return intreport.AppendV20(nil, r, 3, seq, 0) }},
	} {
		t.Run(enc.name, func(t *testing.T) {
			c := NewCollector()
			var got []Received
			c.OnReport(func(r Received) { got = append(got, r) })
			seq := uint32(1)
			for _, hop := range []uint64{40_000, 20_000} {
				c.Handle(enc.f(flowReport(hop), seq), sender, t0)
				seq++
			}
			for range 3 {
				c.Handle(enc.f(noIngressReport(), seq), sender, t0)
				seq++
			}
			if len(got) != 5 {
				t.Fatalf("%d reports, want 5", len(got))
			}
			last := &got[4]
			if line := FormatLine(last); !strings.Contains(line, " port 7 -> 9 hop - seq") {
				t.Errorf("line %q: want hop -", line)
			}
			if line := FormatLine(&got[0]); !strings.Contains(line, " hop 40µs ") {
				t.Errorf("line %q: want hop 40µs", line)
			}
			b, err := FormatJSON(last)
			if err != nil {
				t.Fatal(err)
			}
			var j map[string]any
			if err := json.Unmarshal(b, &j); err != nil {
				t.Fatal(err)
			}
			if v, ok := j["hop_latency_ns"]; ok {
				t.Errorf("JSON of an unknown hop latency has hop_latency_ns %v: %s", v, b)
			}
			s := c.Summary()
			if len(s.Flows) != 1 {
				t.Fatalf("flows %+v", s.Flows)
			}
			f := s.Flows[0]
			if f.Packets != 5 || f.HopReports != 2 || f.HopP50 != 20*time.Microsecond || f.HopMax != 40*time.Microsecond {
				t.Errorf("flow %+v: want 5 reports, 2 with a hop latency, p50 20µs, max 40µs (the unknown ones left out)", f)
			}
		})
	}
}

// A flow none of whose reports has a hop latency shows "-", not 0s.
func TestSummaryOfAFlowWithoutHopLatency(t *testing.T) {
	c := NewCollector()
	c.Handle(v05(noIngressReport(), 1), sender, t0)
	var b strings.Builder
	WriteSummary(&b, c.Summary(), t0, 0)
	var row string
	for _, l := range strings.Split(b.String(), "\n") {
		if strings.Contains(l, "10.22.0.2:40000") {
			row = l
		}
	}
	if f := strings.Fields(row); len(f) < 11 || f[6] != "-" || f[7] != "-" || f[8] != "-" {
		t.Errorf("summary row %q: want - for p50, p99 and max\n%s", row, b.String())
	}
}
