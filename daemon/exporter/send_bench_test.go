package exporter

import (
	"log/slog"
	"net"
	"syscall"
	"testing"

	"github.com/podint/podint/internal/intreport"
)

// BenchmarkCollectorSend prices a report from the sender's queue to the
// kernel: encoding, the sendmmsg of a round of 64 and, the collector being
// on loopback, the kernel's delivery to its socket (on the sending CPU, as
// for the bench's pipeline stage), with and without UDP GSO. ns/op and
// allocs/op are per report. A receiver drains the socket on another
// goroutine so that sends do not fail for a full buffer.
func BenchmarkCollectorSend(b *testing.B) {
	for _, format := range []intreport.Format{intreport.FormatV05, intreport.FormatV20} {
		for _, gso := range []bool{true, false} {
			name := format.String() + "/one-by-one"
			if gso {
				name = format.String() + "/gso"
			}
			b.Run(name, func(b *testing.B) { benchSend(b, format, gso) })
		}
	}
}

func benchSend(b *testing.B, format intreport.Format, gso bool) {
	l, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		b.Fatal(err)
	}
	defer l.Close()
	if rc, err := l.SyscallConn(); err == nil {
		rc.Control(func(fd uintptr) { syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUFFORCE, 64<<20) })
	}
	go func() {
		buf := make([]byte, 65536)
		for {
			if _, err := l.Read(buf); err != nil {
				return
			}
		}
	}()
	cfg, err := Config{Format: format}.withDefaults()
	if err != nil {
		b.Fatal(err)
	}
	c := newCollector("bench", l.LocalAddr().String(), cfg, slog.New(slog.DiscardHandler), seams{noGSO: !gso})
	defer c.closeConn()
	work := gsoWorkload()[12:76] // 64 reports of one size
	b.ReportAllocs()
	n := 0
	for b.Loop() {
		if n++; n == len(work) {
			c.send(work)
			n = 0
		}
	}
	if c.sendErrors.Load() > 0 {
		b.Fatalf("%d send errors: %s", c.sendErrors.Load(), c.lastErr)
	}
}
