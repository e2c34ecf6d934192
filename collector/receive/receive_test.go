package receive

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"sync"
	"testing"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/podint/podint/internal/intreport"
)

func flowReport() *intreport.Report {
	return &intreport.Report{Kind: intreport.KindFlow, SwitchID: 0xc0a83201, IngressPort: 3, EgressPort: 2,
		IngressTS: 1000, EgressTS: 4000, Flow: intreport.Flow{Src: netip.MustParseAddr("10.22.1.5"),
			Dst: netip.MustParseAddr("10.22.2.6"), Proto: intreport.ProtoUDP, SrcPort: 1, DstPort: 2}}
}

// listen starts a receiver on loopback with two readers and returns it
// with a count of the reports it handed on.
func listen(t *testing.T) (*Receiver, *Sources, func() int) {
	t.Helper()
	var mu sync.Mutex
	n := 0
	r, src := serve(t, Config{Listen: "127.0.0.1:0", Readers: 2, RcvBuf: 1 << 20, Batch: 8},
		func(_ netip.AddrPort, _ time.Time, d *intreport.Datagram) {
			mu.Lock()
			n += len(d.Reports)
			mu.Unlock()
		})
	return r, src, func() int { mu.Lock(); defer mu.Unlock(); return n }
}

// serve starts a receiver of cfg handing datagrams to handle, stopped and
// closed when the test ends.
func serve(t *testing.T, cfg Config, handle Handler) (*Receiver, *Sources) {
	t.Helper()
	src := NewSources()
	r, err := Listen(cfg, handle, src)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- r.Serve(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
		r.Close()
	})
	return r, src
}

func waitTotals(t *testing.T, s *Sources, cond func(Totals) bool) Totals {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for {
		tot := s.Totals()
		if cond(tot) {
			return tot
		}
		if time.Now().After(deadline) {
			t.Fatalf("totals %+v never matched", tot)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestBadDatagramsAreCountedByWhy(t *testing.T) {
	r, src, got := listen(t)
	conn, err := net.Dial("udp", r.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	good := intreport.AppendV05(nil, flowReport(), 1, 1, 64)
	for _, b := range [][]byte{
		[]byte("GET / HTTP/1.1\r\n"), // garbage: version 4 in the first nibble
		{0x10, 0, 0, 0},              // version 1
		good[:10],                    // truncated v0.5 fixed header
		{0x20, 0, 0},                 // truncated v2.0 group header
	} {
		conn.Write(b)
	}
	conn.Write(good)
	tot := waitTotals(t, src, func(t Totals) bool { return t.Datagrams == 1 && t.Malformed+t.UnknownVersion == 4 })
	if tot.UnknownVersion != 2 || tot.Malformed != 2 || got() != 1 {
		t.Errorf("totals %+v, %d reports handed on; want 2 of unknown version, 2 malformed, 1 report", tot, got())
	}
}

func TestLossAndRestartPerSource(t *testing.T) {
	for _, f := range []intreport.Format{intreport.FormatV05, intreport.FormatV20} {
		t.Run(f.String(), func(t *testing.T) {
			r, src, _ := listen(t)
			conn, err := net.Dial("udp", r.Addr().String())
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			send := func(seq uint32) {
				var b []byte
				if f == intreport.FormatV20 {
					b = intreport.AppendV20(nil, flowReport(), 1, seq, 64)
				} else {
					b = intreport.AppendV05(nil, flowReport(), 1, seq, 64)
				}
				if _, err := conn.Write(b); err != nil {
					t.Fatal(err)
				}
			}
			// 3000..3002, then 3006 (3 lost), then the sender restarts at 1:
			// farther back than a late datagram can be.
			for _, seq := range []uint32{3000, 3001, 3002, 3006, 3007} {
				send(seq)
			}
			waitTotals(t, src, func(t Totals) bool { return t.Datagrams == 5 })
			for _, seq := range []uint32{1, 2} {
				send(seq)
			}
			tot := waitTotals(t, src, func(t Totals) bool { return t.Datagrams == 7 })
			if tot.Lost != 3 || tot.Restarts != 1 {
				t.Errorf("totals %+v, want 3 lost and 1 restart", tot)
			}
			ss := src.Snapshot()
			if len(ss) != 1 || ss[0].Lost != 3 || ss[0].Format != f || ss[0].Reports != 7 {
				t.Errorf("sources %+v, want one %s source with 3 lost and 7 reports", ss, f)
			}
		})
	}
}

// Each datagram is accounted to its sender's address and port, IPv4 and
// IPv6 alike (the reader parses the sender from recvmmsg's raw sockaddr).
func TestSenderAddressPerFamily(t *testing.T) {
	for _, listenOn := range []string{"127.0.0.1:0", "[::1]:0"} {
		t.Run(listenOn, func(t *testing.T) {
			var mu sync.Mutex
			var got []netip.AddrPort
			r, src := serve(t, Config{Listen: listenOn, Readers: 1, Batch: 4}, func(from netip.AddrPort, _ time.Time, _ *intreport.Datagram) {
				mu.Lock()
				got = append(got, from)
				mu.Unlock()
			})
			conn, err := net.DialUDP("udp", nil, net.UDPAddrFromAddrPort(r.Addr()))
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			for seq := uint32(1); seq <= 3; seq++ {
				conn.Write(intreport.AppendV05(nil, flowReport(), 1, seq, 0))
			}
			waitTotals(t, src, func(tot Totals) bool { return tot.Datagrams == 3 })
			want := conn.LocalAddr().(*net.UDPAddr).AddrPort()
			want = netip.AddrPortFrom(want.Addr().Unmap(), want.Port())
			mu.Lock()
			for _, from := range got {
				if from != want {
					t.Errorf("listening on %s: a datagram from %s, want %s", listenOn, from, want)
				}
			}
			mu.Unlock()
		})
	}
}

// A sender's GSO run (one send, the kernel cuts it into equal datagrams
// and a shorter last one; podintd sends v0.5 reports so) is read as one
// message with UDP_GRO and cut back into the same datagrams, in order, as
// a reader without UDP_GRO gets them.
func TestCoalescedDatagramsAreCutBack(t *testing.T) {
	for _, noGRO := range []bool{false, true} {
		t.Run(fmt.Sprintf("NoGRO=%v", noGRO), func(t *testing.T) {
			var mu sync.Mutex
			var seqs []uint32
			r, src := serve(t, Config{Listen: "127.0.0.1:0", Readers: 1, Batch: 4, NoGRO: noGRO},
				func(_ netip.AddrPort, _ time.Time, d *intreport.Datagram) {
					mu.Lock()
					seqs = append(seqs, d.Seq)
					mu.Unlock()
				})
			conn, err := net.DialUDP("udp", nil, net.UDPAddrFromAddrPort(r.Addr()))
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			const runs, perRun = 5, 20
			var want []uint32
			for run := range runs {
				var buf []byte
				seg := 0
				for i := range perRun {
					seq := uint32(run*perRun + i + 1)
					snap := 64
					if i == perRun-1 {
						snap = 30 // the run's last datagram is shorter
					}
					d := intreport.AppendV05(nil, flowReport(), 1, seq, snap)
					if seg == 0 {
						seg = len(d)
					}
					buf = append(buf, d...)
					want = append(want, seq)
				}
				oob := make([]byte, unix.CmsgSpace(2))
				h := (*unix.Cmsghdr)(unsafe.Pointer(&oob[0]))
				h.Level, h.Type = unix.SOL_UDP, unix.UDP_SEGMENT
				h.SetLen(unix.CmsgLen(2))
				*(*uint16)(unsafe.Pointer(&oob[unix.CmsgLen(0)])) = uint16(seg)
				if _, _, err := conn.WriteMsgUDP(buf, oob, nil); err != nil {
					t.Fatalf("GSO send: %v", err)
				}
			}
			waitTotals(t, src, func(tot Totals) bool { return tot.Datagrams == runs*perRun })
			mu.Lock()
			if !slices.Equal(seqs, want) {
				t.Errorf("UDP_GRO off %v: sequences %v, want %v", noGRO, seqs, want)
			}
			mu.Unlock()
			if tot := src.Totals(); tot.Lost != 0 || tot.Malformed != 0 {
				t.Errorf("UDP_GRO off %v: totals %+v, want nothing lost or malformed", noGRO, tot)
			}
			if c := r.Coalesced(); noGRO && c != 0 || !noGRO && c == 0 {
				t.Errorf("UDP_GRO off %v: %d coalesced messages", noGRO, c)
			}
		})
	}
}
