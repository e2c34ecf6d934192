package exporter

import (
	"net"
	"net/netip"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/podint/podint/internal/intreport"
)

// hangGuard only keeps a broken test from hanging the run; no assertion
// depends on how fast anything is.
const hangGuard = 20 * time.Second

func listen(t *testing.T, addr string) *net.UDPConn {
	t.Helper()
	c, err := net.ListenPacket("udp", addr)
	if err != nil {
		if strings.Contains(addr, "::1") {
			t.Skipf("no IPv6 loopback here: %v", err)
		}
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c.(*net.UDPConn)
}

// receive reads one datagram and decodes it.
func receive(t *testing.T, c *net.UDPConn) *intreport.Datagram {
	t.Helper()
	buf := make([]byte, 65536)
	c.SetReadDeadline(time.Now().Add(hangGuard))
	n, _, err := c.ReadFrom(buf)
	if err != nil {
		t.Fatalf("no report arrived: %v", err)
	}
	d, err := intreport.Decode(buf[:n])
	if err != nil {
		t.Fatalf("received %d bytes that do not decode: %v", n, err)
	}
	return d
}

func report(i int) *intreport.Report {
	return &intreport.Report{
		Kind: intreport.KindFlow, SwitchID: 0x0a000001, IngressPort: 3, EgressPort: 4,
		IngressTS: uint64(1000 * i), EgressTS: uint64(1000*i + 250),
		Flow: intreport.Flow{
			Src: netip.MustParseAddr("10.22.0.2"), Dst: netip.MustParseAddr("10.22.0.3"),
			Proto: intreport.ProtoUDP, SrcPort: uint16(i), DstPort: 53,
		},
	}
}

func start(t *testing.T, cfg Config, s seams) *Exporter {
	t.Helper()
	e, err := newExporter(cfg, nil, s)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.Close() })
	return e
}

// waitStats polls until cond holds for the first collector's counters.
func waitStats(t *testing.T, e *Exporter, what string, cond func(CollectorStats) bool) CollectorStats {
	t.Helper()
	deadline := time.Now().Add(hangGuard)
	for {
		s := e.Stats()[0]
		if cond(s) {
			return s
		}
		if time.Now().After(deadline) {
			t.Fatalf("never %s: %+v", what, s)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestReportsArriveInOrderV05(t *testing.T) {
	for _, addr := range []string{"127.0.0.1:0", "[::1]:0"} {
		t.Run(addr, func(t *testing.T) {
			l := listen(t, addr)
			e := start(t, Config{Collectors: []string{l.LocalAddr().String()}, HwID: 17}, seams{})
			for i := 1; i <= 5; i++ {
				e.Send(report(i))
			}
			for i := 1; i <= 5; i++ {
				d := receive(t, l)
				if d.Format != intreport.FormatV05 || d.Seq != uint32(i) || d.HwID != 17 {
					t.Fatalf("datagram %d: %s seq %d hw_id %d, want v0.5 seq %d hw_id 17", i, d.Format, d.Seq, d.HwID, i)
				}
				if got := d.Reports[0].Flow.SrcPort; got != uint16(i) {
					t.Fatalf("datagram %d carries report %d", i, got)
				}
			}
			s := waitStats(t, e, "counted 5 datagrams", func(s CollectorStats) bool { return s.Datagrams == 5 })
			if s.Reports != 5 || s.SendErrors != 0 || s.QueueDrops != 0 || s.Addr != l.LocalAddr().String() {
				t.Fatalf("stats %+v", s)
			}
		})
	}
}

func TestReportsArriveBatchedV20(t *testing.T) {
	for _, addr := range []string{"127.0.0.1:0", "[::1]:0"} {
		t.Run(addr, func(t *testing.T) {
			l := listen(t, addr)
			gate := make(chan struct{})
			e := start(t, Config{Collectors: []string{l.LocalAddr().String()}, Format: intreport.FormatV20, HwID: 5}, seams{gate: gate})
			const n = 40
			for i := range n {
				e.Send(report(i))
			}
			close(gate) // all 40 are queued: they go out in as few datagrams as the MTU allows
			got := 0
			for seq := uint32(1); got < n; seq++ {
				d := receive(t, l)
				if d.Seq != seq || d.HwID != 5 || d.NodeID != 0x0a000001 {
					t.Fatalf("datagram seq %d hw_id %d node %x, want seq %d hw_id 5", d.Seq, d.HwID, d.NodeID, seq)
				}
				for _, r := range d.Reports {
					if hop, ok := r.HopLatency(); r.Flow.SrcPort != uint16(got) || hop != 250 || !ok {
						t.Fatalf("report %d: port %d hop %d (known %v)", got, r.Flow.SrcPort, hop, ok)
					}
					got++
				}
			}
			s := waitStats(t, e, "counted 40 reports", func(s CollectorStats) bool { return s.Reports == n })
			if s.Datagrams >= n/2 {
				t.Fatalf("%d datagrams for %d reports: not batched", s.Datagrams, n)
			}
		})
	}
}

// A collector port with nothing behind it: the ICMP port unreachable comes
// back as ECONNREFUSED on a later send, which is counted, and Send goes on
// returning at once.
func TestCollectorDownCountsErrors(t *testing.T) {
	l := listen(t, "127.0.0.1:0")
	dead := l.LocalAddr().String()
	l.Close()
	e := start(t, Config{Collectors: []string{dead}}, seams{})
	sent := uint64(0)
	for sent < 100 {
		e.Send(report(int(sent)))
		sent++
		s := waitStats(t, e, "accounted for every report", func(s CollectorStats) bool { return s.Datagrams+s.SendErrors == sent })
		if s.SendErrors > 0 {
			if !strings.Contains(s.LastError, "connection refused") {
				t.Fatalf("last error %q, want connection refused", s.LastError)
			}
			return
		}
	}
	t.Fatalf("%d reports to a closed port and no send error counted", sent)
}

func TestQueueOverflowCountedExactly(t *testing.T) {
	l := listen(t, "127.0.0.1:0")
	gate := make(chan struct{})
	e := start(t, Config{Collectors: []string{l.LocalAddr().String()}, QueueLen: 10}, seams{gate: gate})
	for i := range 25 {
		e.Send(report(i))
	}
	if s := e.Stats()[0]; s.QueueDrops != 15 {
		t.Fatalf("%d queue drops, want 15", s.QueueDrops)
	}
	close(gate)
	for i := 1; i <= 10; i++ {
		if d := receive(t, l); d.Seq != uint32(i) {
			t.Fatalf("seq %d, want %d", d.Seq, i)
		}
	}
	if s := waitStats(t, e, "sent 10", func(s CollectorStats) bool { return s.Datagrams == 10 }); s.QueueDrops != 15 {
		t.Fatalf("stats %+v", s)
	}
}

func TestSequenceWrapsOnTheWire(t *testing.T) {
	for _, tc := range []struct {
		f     intreport.Format
		first uint32
		want  []uint32
	}{
		{intreport.FormatV05, 1<<32 - 2, []uint32{1<<32 - 2, 1<<32 - 1, 0, 1}},
		{intreport.FormatV20, 1<<22 - 2, []uint32{1<<22 - 2, 1<<22 - 1, 0, 1}},
	} {
		t.Run(tc.f.String(), func(t *testing.T) {
			l := listen(t, "127.0.0.1:0")
			e := start(t, Config{Collectors: []string{l.LocalAddr().String()}, Format: tc.f}, seams{firstSeq: tc.first})
			for i, want := range tc.want {
				e.Send(report(i)) // one at a time, so each is its own datagram
				if d := receive(t, l); d.Seq != want {
					t.Fatalf("datagram %d: seq %d, want %d", i, d.Seq, want)
				}
			}
		})
	}
}

func TestCloseFlushesQueue(t *testing.T) {
	l := listen(t, "127.0.0.1:0")
	gate := make(chan struct{})
	e := start(t, Config{Collectors: []string{l.LocalAddr().String()}}, seams{gate: gate})
	for i := range 100 {
		e.Send(report(i))
	}
	close(gate)
	if err := e.Close(); err != nil {
		t.Fatal(err)
	}
	for i := 1; i <= 100; i++ {
		if d := receive(t, l); d.Seq != uint32(i) {
			t.Fatalf("seq %d, want %d", d.Seq, i)
		}
	}
	e.Send(report(0)) // after Close: ignored, not a panic
}

func TestSetCollectorsKeepsSequences(t *testing.T) {
	a, b := listen(t, "127.0.0.1:0"), listen(t, "127.0.0.1:0")
	e := start(t, Config{Collectors: []string{a.LocalAddr().String()}}, seams{})
	e.Send(report(1))
	receive(t, a)
	if err := e.SetCollectors([]string{a.LocalAddr().String(), b.LocalAddr().String()}); err != nil {
		t.Fatal(err)
	}
	e.Send(report(2))
	if da, db := receive(t, a), receive(t, b); da.Seq != 2 || db.Seq != 1 {
		t.Fatalf("kept collector at seq %d (want 2), new one at %d (want 1)", da.Seq, db.Seq)
	}
	if err := e.SetCollectors([]string{"bad:port:x"}); err == nil {
		t.Fatal("accepted a bad address")
	}
	if err := e.SetCollectors([]string{b.LocalAddr().String()}); err != nil {
		t.Fatal(err)
	}
	if s := e.Stats(); len(s) != 1 || s[0].Collector != b.LocalAddr().String() {
		t.Fatalf("stats after removing a collector: %+v", s)
	}
}

// A collector whose name does not resolve yet (cluster DNS still starting)
// is named in Stats from the start, before any report, and retried without
// reports until it resolves; then reports flow and the name is cleared.
func TestUnresolvedCollectorIsRetriedUntilItResolves(t *testing.T) {
	l := listen(t, "127.0.0.1:0")
	var resolves atomic.Bool
	var tries atomic.Int32
	dial := func(network, address string) (net.Conn, error) {
		tries.Add(1)
		if !resolves.Load() {
			return nil, &net.OpError{Op: "dial", Net: network, Err: &net.DNSError{Err: "no such host", Name: "collector.podint.svc", IsNotFound: true}}
		}
		return net.Dial(network, l.LocalAddr().String())
	}
	e := start(t, Config{Collectors: []string{"collector.podint.svc:32766"}}, seams{dial: dial})
	waitFor(t, "the unresolved name in Stats", func() bool {
		s := e.Stats()[0]
		return strings.Contains(s.Unresolved, "no such host")
	})
	waitFor(t, "a retry without any report", func() bool { return tries.Load() >= 2 })
	resolves.Store(true)
	waitFor(t, "the name resolved", func() bool { return e.Stats()[0].Unresolved == "" })
	e.Send(report(1))
	if d := receive(t, l); len(d.Reports) != 1 {
		t.Fatalf("want 1 report, got %d", len(d.Reports))
	}
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(hangGuard + 40*time.Second) // the back-off reaches seconds
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("waited in vain for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
