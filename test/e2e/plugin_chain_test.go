package e2e

import (
	"context"
	"io"
	"net"
	"strings"
	"testing"

	"github.com/vishvananda/netlink"

	"github.com/podint/podint/bpf/attach"
	"github.com/podint/podint/internal/intreport"
	"github.com/podint/podint/test/harness"
)

var portmapEntry = map[string]any{"type": "portmap", "capabilities": map[string]any{"portMappings": true}, "snat": true}

// bandwidthEntry limits far above what the test sends: the point is the
// qdiscs and the ifb redirect bandwidth puts on the veth, not the limit.
func bandwidthEntry(egress bool) map[string]any {
	e := map[string]any{"type": "bandwidth", "ingressRate": 1_000_000_000, "ingressBurst": 100_000_000}
	if egress {
		e["egressRate"], e["egressBurst"] = 1_000_000_000, 100_000_000
	}
	return e
}

// podint coexists on the veth with the plugins chained before it: traffic
// and reports flow, portmap's DNAT works, CHECK passes and every plugin's
// DEL succeeds. With TCX the probe runs before bandwidth's egress-limit
// redirect to its ifb; classic tc cannot share the hook with that redirect,
// so the tc run limits ingress only.
func TestChainWithPortmapAndBandwidth(t *testing.T) {
	for _, mode := range []attach.Mode{attach.TCX, attach.TC} {
		t.Run(string(mode), func(t *testing.T) {
			n := startNode(t, harness.NodeConfig{
				ExtraPlugins: []map[string]any{portmapEntry, bandwidthEntry(mode == attach.TCX)},
				PodintConf:   map[string]any{"attachMode": mode},
			})
			ctx := testContext(t)
			a := addPod(t, n.Node, "a")
			b, err := n.NewPod("b")
			if err != nil {
				t.Fatal(err)
			}
			b.CapabilityArgs = map[string]any{"portMappings": []map[string]any{
				{"hostPort": 18080, "containerPort": 8080, "protocol": "tcp"}}}
			if err := n.CNIAdd(ctx, b); err != nil {
				b.NS.Delete()
				t.Fatal(err)
			}
			t.Cleanup(func() { n.DelPod(context.Background(), b) })
			ia, ib := vethIndex(t, a), vethIndex(t, b)
			expectProbe(t, n.Node, a, ia, mode)
			expectProbe(t, n.Node, b, ib, mode)
			if mode == attach.TCX && !hasQdisc(t, n.Node, ia, "ingress") {
				t.Fatal("bandwidth's egress limit put no ingress qdisc on the veth: the test would prove nothing")
			}

			sport := echoTCP(t, a, b, 5201)
			expectFlowReport(t, ctx, n.Collector, intreport.ProtoTCP, a.IP, b.IP, sport, 5201, ia, ib)
			expectFlowReport(t, ctx, n.Collector, intreport.ProtoTCP, b.IP, a.IP, 5201, sport, ib, ia)
			expectHostPort(t, n.Node, b, 18080, 8080)

			for _, p := range []*harness.Pod{a, b} {
				if err := n.CNICheck(ctx, p); err != nil {
					t.Errorf("CHECK %s: %v", p.Name, err)
				}
			}
			// Each plugin's DEL on its own, last first, then the chain's.
			for _, plugin := range []string{"podint", "bandwidth", "portmap", "bridge"} {
				if err := n.CNIDelPlugin(ctx, b, plugin); err != nil {
					t.Errorf("%s DEL: %v", plugin, err)
				}
			}
			if err := n.CNIDel(ctx, b); err != nil {
				t.Errorf("chain DEL: %v", err)
			}
			expectNoProbe(t, n.Node, b, 0)
			wantIfbs := 0 // bandwidth's ifb exists for an egress limit only
			if mode == attach.TCX {
				wantIfbs = 1
			}
			if ifbs := ifbDevices(t, n.Node); len(ifbs) != wantIfbs {
				t.Errorf("ifb devices %v, want %d (pod a's)", ifbs, wantIfbs)
			}
		})
	}
}

// Classic tc cannot hook a veth where bandwidth's egress limit put an
// ingress qdisc: the pod is created without a probe and the log says why.
func TestTCModeNextToAnEgressLimit(t *testing.T) {
	n := startNode(t, harness.NodeConfig{
		ExtraPlugins: []map[string]any{bandwidthEntry(true)},
		PodintConf:   map[string]any{"attachMode": attach.TC},
	})
	ctx := testContext(t)
	p := addPod(t, n.Node, "a")
	expectNoProbe(t, n.Node, p, vethIndex(t, p))
	if log := n.PluginLog(); !strings.Contains(log, "ingress qdisc") {
		t.Errorf("plugin stderr does not name the ingress qdisc:\n%s", log)
	}
	if err := n.CNIDel(ctx, p); err != nil {
		t.Errorf("DEL: %v", err)
	}
}

// expectHostPort connects from the node to its bridge address on hostPort
// and expects portmap to take it to p's containerPort.
func expectHostPort(t *testing.T, n *harness.Node, p *harness.Pod, hostPort, containerPort int) {
	t.Helper()
	l, err := p.ListenTCP(containerPort)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	go func() {
		c, err := l.Accept()
		if err == nil {
			_, _ = c.Write([]byte("via portmap"))
			c.Close()
		}
	}()
	gw := p.Result.IPs[0].Gateway.String()
	var got []byte
	err = n.NS.Do(func() error {
		c, err := (&net.Dialer{}).DialContext(testContext(t), "tcp", net.JoinHostPort(gw, itoa(hostPort)))
		if err != nil {
			return err
		}
		defer c.Close()
		got, err = io.ReadAll(c)
		return err
	})
	if err != nil || string(got) != "via portmap" {
		t.Errorf("node -> %s:%d: %q, %v; want portmap to reach %s:%d", gw, hostPort, got, err, p.IP, containerPort)
	}
}

func hasQdisc(t *testing.T, n *harness.Node, ifindex int, kind string) (found bool) {
	t.Helper()
	err := n.NS.Do(func() error {
		l, err := netlink.LinkByIndex(ifindex)
		if err != nil {
			return err
		}
		qs, err := netlink.QdiscList(l)
		for _, q := range qs {
			found = found || q.Type() == kind
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return found
}

func ifbDevices(t *testing.T, n *harness.Node) (names []string) {
	t.Helper()
	err := n.NS.Do(func() error {
		links, err := netlink.LinkList()
		for _, l := range links {
			if l.Type() == "ifb" {
				names = append(names, l.Attrs().Name)
			}
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return names
}
