package e2e

import (
	"net/netip"
	"syscall"
	"testing"
	"time"

	"github.com/podint/podint/test/harness"
)

// TestRingBufferOverflowIsCountedExactly floods the ring buffer while the
// daemon is stopped (SIGSTOP), so it overflows, then lets the daemon drain
// it: every event the probes tried to write is accounted for, as received,
// undecodable, or lost in the kernel:
//
//	kernel_ringbuf_full + events_malformed = produced - received
//
// where produced = kernel_events + kernel_ringbuf_full.
func TestRingBufferOverflowIsCountedExactly(t *testing.T) {
	// A report interval of 1ns makes every packet an event.
	n := startNode(t, harness.NodeConfig{DaemonArgs: []string{"--report-interval", "1ns"}})
	ctx := testContext(t)
	a, b := addPod(t, n.Node, "a"), addPod(t, n.Node, "b")
	srv, err := b.ListenUDP(7400)
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	c, err := a.ListenUDP(0)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()

	pid := n.DaemonPID()
	if err := syscall.Kill(pid, syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	// The ring buffer holds about 11.6k events (4 MiB of 360-byte records); send well beyond that.
	dst := netip.AddrPortFrom(b.IP, 7400)
	for i := 0; i < 40000; i++ {
		c.WriteToUDPAddrPort([]byte("flood"), dst)
		if i%2000 == 0 {
			time.Sleep(time.Millisecond) // let the receiver keep up: no socket drops
		}
	}
	if err := syscall.Kill(pid, syscall.SIGCONT); err != nil {
		t.Fatal(err)
	}
	// Once the flood stops and the daemon drained the buffer, received +
	// malformed reaches what the kernel wrote.
	waitCounter(t, ctx, n.Node, "kernel_ringbuf_full", 1)
	for {
		events := counter(t, ctx, n.Node, "kernel_events")
		received := counter(t, ctx, n.Node, "events_received")
		malformed := counter(t, ctx, n.Node, "events_malformed")
		full := counter(t, ctx, n.Node, "kernel_ringbuf_full")
		if received+malformed == events {
			produced := events + full
			if full+malformed != produced-received {
				t.Fatalf("loss not accounted: full %d + malformed %d != produced %d - received %d", full, malformed, produced, received)
			}
			if full == 0 {
				t.Fatal("the ring buffer never overflowed: the test proves nothing")
			}
			t.Logf("produced %d, received %d, lost in the kernel %d, malformed %d", produced, received, full, malformed)
			return
		}
		select {
		case <-ctx.Done():
			t.Fatalf("daemon did not drain the ring buffer: events %d, received %d, malformed %d", events, received, malformed)
		case <-time.After(100 * time.Millisecond):
		}
	}
}
