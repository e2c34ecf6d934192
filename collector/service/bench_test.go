package service

import (
	"context"
	"net"
	"net/netip"
	"runtime"
	"testing"
	"time"

	"github.com/podint/podint/internal/intreport"
)

// BenchmarkHandle is the collector's CPU cost per report on one core, from
// the datagram's bytes to the path aggregate and the metrics (no socket,
// no database: those run on other goroutines). 10k flows, as from many
// nodes.
func BenchmarkHandle(b *testing.B) {
	for _, f := range []intreport.Format{intreport.FormatV05, intreport.FormatV20} {
		b.Run(f.String(), func(b *testing.B) {
			cfg := Default()
			cfg.Receive.Listen, cfg.HTTPListen, cfg.Topology.Port = "127.0.0.1:0", "", 0
			c, err := New(context.Background(), cfg)
			if err != nil {
				b.Fatal(err)
			}
			defer c.close()
			const flows = 10000
			datagrams := make([][]byte, flows)
			for i := range datagrams {
				r := &intreport.Report{Kind: intreport.KindFlow, SwitchID: 0xc0a83201 + uint32(i%300), IngressPort: 3, EgressPort: 2,
					IngressTS: 1000, EgressTS: 4000 + uint64(i), FrameLen: 1400,
					Flow: intreport.Flow{Src: netip.AddrFrom4([4]byte{10, 22, byte(i >> 8), byte(i)}), Dst: netip.MustParseAddr("10.22.200.1"),
						Proto: intreport.ProtoTCP, SrcPort: uint16(i), DstPort: 80}}
				if f == intreport.FormatV20 {
					datagrams[i] = intreport.AppendV20(nil, r, 1, uint32(i+1), intreport.DefaultSnapLen)
				} else {
					datagrams[i] = intreport.AppendV05(nil, r, 1, uint32(i+1), intreport.DefaultSnapLen)
				}
			}
			from := netip.MustParseAddrPort("192.168.50.1:40000")
			at := time.Now()
			b.ResetTimer()
			for i := range b.N {
				c.receiver.Handle(datagrams[i%flows], from, at)
			}
			b.StopTimer()
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "reports/s")
			if c.Sources.Totals().Reports != uint64(b.N) {
				b.Errorf("%d reports accounted for, want %d", c.Sources.Totals().Reports, b.N)
			}
		})
	}
}

// BenchmarkLiveFlows reports the heap the collector holds with 100k live
// flows (one open interval, each flow seen on two nodes), the figure behind
// its memory sizing.
func BenchmarkLiveFlows(b *testing.B) {
	const flows = 100000
	for range b.N {
		cfg := Default()
		cfg.Receive.Listen, cfg.HTTPListen, cfg.Topology.Port = "127.0.0.1:0", "", 0
		cfg.Interval = time.Hour
		c, err := New(context.Background(), cfg)
		if err != nil {
			b.Fatal(err)
		}
		runtime.GC()
		var before runtime.MemStats
		runtime.ReadMemStats(&before)
		from := netip.MustParseAddrPort("192.168.50.1:40000")
		at := time.Now()
		for i := range flows {
			for node := range uint32(2) {
				r := &intreport.Report{Kind: intreport.KindFlow, SwitchID: 0xc0a83201 + node, IngressPort: 3 + node, EgressPort: 2,
					IngressTS: 1000, EgressTS: 4000, FrameLen: 1400,
					Flow: intreport.Flow{Src: netip.AddrFrom4([4]byte{10, 22, byte(i >> 8), byte(i)}), Dst: netip.MustParseAddr("10.23.0.1"),
						Proto: intreport.ProtoTCP, SrcPort: uint16(i >> 16), DstPort: 80}}
				c.receiver.Handle(intreport.AppendV05(nil, r, 1, uint32(2*i+int(node)+1), intreport.DefaultSnapLen), from, at)
			}
		}
		runtime.GC()
		var after runtime.MemStats
		runtime.ReadMemStats(&after)
		b.ReportMetric(float64(after.HeapAlloc-before.HeapAlloc)/(1<<20), "heap-MiB/100k-flows")
		c.close()
	}
}

// BenchmarkReceiveLoopback sends v2.0 datagrams (8 reports each, as podintd
// batches them) over loopback as fast as one sender can, into the whole
// collector (no database), and reports what arrived per second and what
// the sequence numbers say was lost. Sender and readers share the cores.
func BenchmarkReceiveLoopback(b *testing.B) {
	cfg := Default()
	cfg.Receive.Listen, cfg.HTTPListen, cfg.Topology.Port = "127.0.0.1:0", "", 0
	c, err := New(context.Background(), cfg)
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- c.Run(ctx) }()
	defer func() { cancel(); <-done }()
	conn, err := net.Dial("udp", c.ReportAddr().String())
	if err != nil {
		b.Fatal(err)
	}
	defer conn.Close()
	seq := intreport.NewSequence(intreport.FormatV20)
	batch, err := intreport.NewV20Batch(1, intreport.DefaultSnapLen, 1400, &seq)
	if err != nil {
		b.Fatal(err)
	}
	r := &intreport.Report{Kind: intreport.KindFlow, SwitchID: 0x7f000001, IngressPort: 3, EgressPort: 2,
		IngressTS: 1000, EgressTS: 4000, Flow: intreport.Flow{Src: netip.MustParseAddr("10.22.1.5"),
			Dst: netip.MustParseAddr("10.23.0.1"), Proto: intreport.ProtoUDP, DstPort: 53}}
	b.ResetTimer()
	for i := range b.N {
		r.Flow.SrcPort = uint16(i % 10000) // 10k flows
		if d := batch.Add(r); d != nil {
			conn.Write(d)
		}
	}
	if d := batch.Flush(); d != nil {
		conn.Write(d)
	}
	// Wait until the readers are idle; datagrams neither received nor
	// counted lost by a gap were lost at the end.
	sent := uint64(seq.Next() - 1) // datagrams numbered so far
	for last := ^uint64(0); ; time.Sleep(100 * time.Millisecond) {
		if n := c.Sources.Totals().Datagrams; n == last || n >= sent {
			break
		} else {
			last = n
		}
	}
	b.StopTimer()
	t := c.Sources.Totals()
	b.ReportMetric(float64(t.Reports)/b.Elapsed().Seconds(), "reports/s")
	b.ReportMetric(100*float64(sent-t.Datagrams)/float64(sent), "%lost")
}
