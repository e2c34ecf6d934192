package collect

import (
	"encoding/json"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/podint/podint/internal/intreport"
)

var (
	t0     = time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)
	sender = netip.MustParseAddrPort("10.0.0.1:40123")
	tcp    = intreport.Flow{
		Src: netip.MustParseAddr("10.22.0.2"), Dst: netip.MustParseAddr("10.22.0.3"),
		Proto: intreport.ProtoTCP, SrcPort: 40000, DstPort: 5201,
	}
)

func flowReport(hop uint64) *intreport.Report {
	return &intreport.Report{
		Kind: intreport.KindFlow, SwitchID: 0x0a000001, IngressPort: 7, EgressPort: 9,
		IngressTS: 1_000_000, EgressTS: 1_000_000 + hop, Flow: tcp,
	}
}

func dropReport(reason uint8) *intreport.Report {
	r := flowReport(0)
	r.Kind, r.EgressPort, r.EgressTS, r.DropReason = intreport.KindDrop, 0, 0, reason
	r.Flow.Proto, r.Flow.DstPort = intreport.ProtoUDP, 53
	return r
}

func v05(r *intreport.Report, seq uint32) []byte { return intreport.AppendV05(nil, r, 3, seq, 0) }

func TestLinesAndJSON(t *testing.T) {
	c := NewCollector()
	var got []Received
	c.OnReport(func(r Received) { got = append(got, r) })
	if _, err := c.Handle(v05(flowReport(12300), 42), sender, t0); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Handle(v05(dropReport(80), 43), sender, t0); err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 {
		t.Fatalf("%d reports", len(got))
	}
	for i, want := range []string{
		"flow tcp 10.22.0.2:40000 -> 10.22.0.3:5201 switch 10.0.0.1 port 7 -> 9 hop 12.3µs seq 42",
		"drop udp 10.22.0.2:40000 -> 10.22.0.3:53 switch 10.0.0.1 port 7 reason 80 (acl deny) seq 43",
	} {
		if line := FormatLine(&got[i]); line != want {
			t.Errorf("line %d:\n got %s\nwant %s", i, line, want)
		}
	}
	b, err := FormatJSON(&got[1])
	if err != nil {
		t.Fatal(err)
	}
	var j map[string]any
	if err := json.Unmarshal(b, &j); err != nil {
		t.Fatal(err)
	}
	for k, want := range map[string]any{
		"kind": "drop", "switch": "10.0.0.1", "seq": 43.0, "hw_id": 3.0, "format": "v0.5",
		"drop_reason": 80.0, "drop_reason_name": "acl deny", "from": "10.0.0.1:40123",
	} {
		if j[k] != want {
			t.Errorf("JSON %s = %v, want %v in %s", k, j[k], want, b)
		}
	}
	if f := j["flow"].(map[string]any); f["src"] != "10.22.0.2" || f["dst_port"] != 53.0 {
		t.Errorf("JSON flow %v", f)
	}
}

func TestSummaryLatencyAndDrops(t *testing.T) {
	c := NewCollector()
	seq := uint32(1)
	for hop := uint64(1); hop <= 100; hop++ { // hop latencies 1µs .. 100µs
		c.Handle(v05(flowReport(hop*1000), seq), sender, t0.Add(time.Duration(hop)*time.Second))
		seq++
	}
	for _, reason := range []uint8{80, 80, 26} {
		c.Handle(v05(dropReport(reason), seq), sender, t0)
		seq++
	}
	s := c.Summary()
	if s.Datagrams != 103 || s.Reports != 103 || len(s.Flows) != 1 {
		t.Fatalf("summary %+v", s)
	}
	f := s.Flows[0]
	if f.Packets != 100 || f.HopP50 != 50*time.Microsecond || f.HopP99 != 99*time.Microsecond || f.HopMax != 100*time.Microsecond {
		t.Fatalf("flow %+v, want p50 50µs p99 99µs max 100µs", f)
	}
	if !f.LastSeen.Equal(t0.Add(100*time.Second)) || f.SwitchID != 0x0a000001 || f.Flow != tcp {
		t.Fatalf("flow %+v", f)
	}
	want := []DropSummary{{26, "ip ttl zero", 1}, {80, "acl deny", 2}}
	if len(s.Drops) != 2 || s.Drops[0] != want[0] || s.Drops[1] != want[1] {
		t.Fatalf("drops %+v, want %+v", s.Drops, want)
	}
	var b strings.Builder
	WriteSummary(&b, s, t0.Add(102*time.Second), 0)
	for _, w := range []string{"tcp 10.22.0.2:40000 -> 10.22.0.3:5201", "50µs", "99µs", "100µs", "2s ago", "80 (acl deny)", "10.0.0.1:40123"} {
		if !strings.Contains(b.String(), w) {
			t.Errorf("summary table lacks %q:\n%s", w, b.String())
		}
	}
}

func TestLostReportsFromSequenceGaps(t *testing.T) {
	for _, tc := range []struct {
		name                         string
		format                       intreport.Format
		seqs                         []uint32
		lost, reordered, restarts, n uint64
	}{
		{"in order", intreport.FormatV05, []uint32{1, 2, 3}, 0, 0, 0, 3},
		{"gap", intreport.FormatV05, []uint32{1, 2, 5, 6}, 2, 0, 0, 4},
		{"late arrival is not lost", intreport.FormatV05, []uint32{1, 2, 4, 3, 5}, 0, 1, 0, 5},
		{"v0.5 wrap", intreport.FormatV05, []uint32{1<<32 - 2, 1<<32 - 1, 0, 1}, 0, 0, 0, 4},
		{"v0.5 gap across the wrap", intreport.FormatV05, []uint32{1<<32 - 2, 1}, 2, 0, 0, 2},
		{"v2.0 wrap", intreport.FormatV20, []uint32{1<<22 - 1, 0, 1}, 0, 0, 0, 3},
		{"v2.0 gap across the wrap", intreport.FormatV20, []uint32{1<<22 - 2, 2}, 3, 0, 0, 2},
		{"restart", intreport.FormatV05, []uint32{5000, 5001, 1, 2}, 0, 0, 1, 4},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := NewCollector()
			for _, seq := range tc.seqs {
				var b []byte
				if tc.format == intreport.FormatV20 {
					b = intreport.AppendV20(nil, flowReport(1), 3, seq, 0)
				} else {
					b = v05(flowReport(1), seq)
				}
				if _, err := c.Handle(b, sender, t0); err != nil {
					t.Fatal(err)
				}
			}
			src := c.Summary().Sources
			if len(src) != 1 {
				t.Fatalf("%d sources", len(src))
			}
			s := src[0]
			if s.Lost != tc.lost || s.Reordered != tc.reordered || s.Restarts != tc.restarts || s.Datagrams != tc.n {
				t.Fatalf("lost %d reordered %d restarts %d datagrams %d; want %d %d %d %d",
					s.Lost, s.Reordered, s.Restarts, s.Datagrams, tc.lost, tc.reordered, tc.restarts, tc.n)
			}
		})
	}
}

// Sources are told apart by sender address, port and hw_id: two senders'
// sequences never make gaps in each other.
func TestSourcesAreSeparate(t *testing.T) {
	c := NewCollector()
	other := netip.MustParseAddrPort("10.0.0.2:40123")
	c.Handle(v05(flowReport(1), 1), sender, t0)
	c.Handle(v05(flowReport(1), 100), other, t0)
	c.Handle(v05(flowReport(1), 2), sender, t0)
	c.Handle(intreport.AppendV05(nil, flowReport(1), 4, 50, 0), sender, t0)
	s := c.Summary().Sources
	if len(s) != 3 {
		t.Fatalf("sources %+v", s)
	}
	for _, src := range s {
		if src.Lost != 0 {
			t.Fatalf("source %+v counts a loss", src)
		}
	}
}

func TestSubscribeAndMalformed(t *testing.T) {
	c := NewCollector()
	ch, cancel := c.Subscribe(1)
	var errs []string
	c.OnError(func(_ time.Time, _ netip.AddrPort, err error) { errs = append(errs, err.Error()) })
	c.Handle(v05(flowReport(5), 1), sender, t0)
	c.Handle(v05(flowReport(6), 2), sender, t0) // the buffer of 1 is full: dropped for the subscriber
	if _, err := c.Handle([]byte{0x02, 0x20}, sender, t0); err == nil {
		t.Fatal("a 2-byte datagram decoded")
	}
	r := <-ch
	if hop, ok := r.HopLatency(); r.Seq != 1 || hop != 5 || !ok {
		t.Fatalf("subscriber got seq %d hop %d (known %v)", r.Seq, hop, ok)
	}
	s := c.Summary()
	if s.SubscriberDrops != 1 || s.Malformed != 1 || len(errs) != 1 || errs[0] != "v0.5 report: 2 bytes, need at least 12 for the fixed header" {
		t.Fatalf("subscriber drops %d, malformed %d, errors %q", s.SubscriberDrops, s.Malformed, errs)
	}
	cancel()
	c.Handle(v05(flowReport(7), 3), sender, t0)
	select {
	case r := <-ch:
		t.Fatalf("report after cancel: %+v", r)
	default:
	}
}
