package e2e

import (
	"slices"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/podint/podint/test/harness"
)

// podintd killed with SIGKILL under steady traffic loses nothing the probes
// saw while it was away: the probes keep running, the pinned ring buffer
// keeps their events, and the restarted daemon reports every flow that
// started during the outage, with the same probes, none lost or doubled.
func TestSIGKILLUnderTrafficLosesNoFlow(t *testing.T) {
	n := startNode(t, harness.NodeConfig{})
	ctx := testContext(t)
	a, b := addPod(t, n.Node, "a"), addPod(t, n.Node, "b")
	sink, err := b.ListenUDP(9999) // so the datagrams are delivered, not refused
	if err != nil {
		t.Fatal(err)
	}
	defer sink.Close()
	flows := &udpFlows{from: a, to: b, dstPort: 9999, firstPort: 20000}
	probesBefore := probeIDs(t, ctx, n.Node)
	if len(probesBefore) != 2 {
		t.Fatalf("probes before the kill: %v, want the two pods'", probesBefore)
	}

	// Steady traffic, one new flow per datagram, from before the kill to
	// after the restart. Each flow is tagged with the daemon's state when
	// it was sent.
	const (
		up = iota
		down
		restarting
	)
	var state atomic.Int32
	var outage, after []uint16
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := 0; i < 20000; i++ { // bounded, whatever happens
			select {
			case <-stop:
				return
			case <-time.After(2 * time.Millisecond): // a modest, steady rate
			}
			s := state.Load()
			port := flows.send(t)
			if s == down && state.Load() == down {
				outage = append(outage, port)
			}
			if s == up && len(outage) > 0 {
				after = append(after, port)
			}
		}
	}()
	if missing := flows.waitReported(ctx, n.Collector, []uint16{20000}); missing != nil {
		t.Fatal("no report before the kill")
	}

	if err := n.StopDaemon(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	state.Store(down)
	// Let a good number of flows start while the daemon is away.
	waitFlows(ctx, done, flows, flows.count()+200)
	state.Store(restarting)
	if err := n.StartDaemon(ctx); err != nil {
		t.Fatal(err)
	}
	state.Store(up)
	sentAfter := flows.count()
	waitFlows(ctx, done, flows, sentAfter+50)
	close(stop)
	<-done

	if len(outage) < 100 {
		t.Fatalf("only %d flows were sent during the outage", len(outage))
	}
	if missing := flows.waitReported(ctx, n.Collector, outage); missing != nil {
		t.Errorf("%d of %d flows sent while podintd was down were never reported, e.g. source ports %v",
			len(missing), len(outage), missing[:min(len(missing), 10)])
	}
	if missing := flows.waitReported(ctx, n.Collector, after); missing != nil || len(after) == 0 {
		t.Errorf("reports did not resume after the restart: %d flows sent, %d missing", len(after), len(missing))
	}
	if got := probeIDs(t, ctx, n.Node); !slices.Equal(got, probesBefore) {
		t.Errorf("probes after the restart: %v, want the same as before: %v", got, probesBefore)
	}
	for _, p := range []*harness.Pod{a, b} {
		in, eg, err := n.TCXPrograms(vethIndex(t, p))
		if err != nil || in != 1 || eg != 1 {
			t.Errorf("pod %s: %d+%d TCX programs after the restart (%v), want 1+1", p.Name, in, eg, err)
		}
	}
	if lost := counter(t, ctx, n.Node, "kernel_ringbuf_full"); lost != 0 {
		t.Errorf("kernel_ringbuf_full %d: events were lost in the kernel", lost)
	}
	if got := counter(t, ctx, n.Node, "probes_adopted"); got != 2 {
		t.Errorf("probes_adopted %d, want the two pods' probes", got)
	}
}
