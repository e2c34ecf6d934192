package e2e

import (
	"net"
	"net/netip"
	"testing"

	"github.com/podint/podint/internal/intreport"
	podintv1 "github.com/podint/podint/proto/podint/v1"
	"github.com/podint/podint/test/harness"
)

// A collector that is down never stalls the daemon: sends fail and are
// counted, the API keeps answering, and reports resume when it is back.
func TestCollectorDownThenBack(t *testing.T) {
	n := newBareNode(t, harness.NodeConfig{})
	ctx := testContext(t)
	// Reserve a port in the node, then free it: nothing listens there yet.
	var addr string
	if err := n.NS.Do(func() error {
		c, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
		if err != nil {
			return err
		}
		addr = c.LocalAddr().String()
		return c.Close()
	}); err != nil {
		t.Fatal(err)
	}
	n.Config.Collectors = []string{addr}
	if err := n.StartDaemon(ctx); err != nil {
		t.Fatal(err)
	}
	a, b := addPod(t, n, "a"), addPod(t, n, "b")
	for i := 0; i < 20; i++ {
		sendUDP(t, a, netip.AddrPortFrom(b.IP, uint16(8000+i)), 0)
	}
	waitCounter(t, ctx, n, "datagram_send_errors", 1)
	c, closeFn, err := n.Client()
	if err != nil {
		t.Fatal(err)
	}
	defer closeFn()
	if _, err := c.ListProbes(ctx, &podintv1.ListProbesRequest{}); err != nil {
		t.Fatalf("the API stalled while the collector is down: %v", err)
	}

	col, err := harness.NewCollectorOn(n.NS, addr)
	if err != nil {
		t.Fatal(err)
	}
	defer col.Close()
	// New flows until one is reported: the daemon resumes sending.
	for i := 0; ; i++ {
		sport := sendUDP(t, a, netip.AddrPortFrom(b.IP, 9000), 0)
		ctxShort, cancel := contextWithTimeoutSeconds(ctx, 2)
		_, err := col.WaitFor(ctxShort, func(d *intreport.Decoded) bool { return d.Report.Flow.SrcPort == sport })
		cancel()
		if err == nil {
			break
		}
		if ctx.Err() != nil {
			t.Fatal("reports did not resume after the collector came back")
		}
	}
}
