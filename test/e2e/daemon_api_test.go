package e2e

import (
	"bufio"
	"context"
	"encoding/json"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	podintv1 "github.com/podint/podint/proto/podint/v1"
	"github.com/podint/podint/test/harness"
)

// Register takes only a pod veth of this node whose peer is the named
// interface in the named pod netns; anything else is refused with
// InvalidArgument and a message that says what is wrong.
func TestRegisterRefusesWhatIsNotThePodsVeth(t *testing.T) {
	n := startNode(t, harness.NodeConfig{})
	ctx := testContext(t)
	a, b := addPod(t, n.Node, "a"), addPod(t, n.Node, "b")
	c := client(t, n.Node)
	good := registration(t, ctx, n.Node, a)
	if good == nil {
		t.Fatal("pod a is not registered")
	}
	if good.GetPod().GetMac() == "" {
		t.Errorf("registration %v lacks the pod interface's MAC, which the daemon reads", good.GetPod())
	}
	for _, tc := range []struct {
		name   string
		change func(p *podintv1.Probe)
		want   string
	}{
		{"loopback", func(p *podintv1.Probe) { p.Ifindex, p.HostInterface = 1, "lo" }, "not a veth"},
		{"no such ifindex", func(p *podintv1.Probe) { p.Ifindex, p.HostInterface = 9999, "" }, "no such interface"},
		{"wrong name", func(p *podintv1.Probe) { p.HostInterface = "veth-other" }, "not host_interface veth-other"},
		{"another pod's netns", func(p *podintv1.Probe) { p.Pod.Netns = b.NS.Path }, "belongs to another pod"},
		{"missing netns", func(p *podintv1.Probe) { p.Pod.Netns = "/var/run/netns/podint-none" }, "cannot be opened"},
		{"no netns", func(p *podintv1.Probe) { p.Pod.Netns = "" }, "pod netns is empty"},
		{"wrong pod interface", func(p *podintv1.Probe) { p.Pod.Interface = "eth9" }, "eth9 not found"},
		{"uplink", func(p *podintv1.Probe) { p.Kind = podintv1.PortKind_PORT_KIND_UPLINK }, "only pod probes"},
		{"no container", func(p *podintv1.Probe) { p.Pod.ContainerId = "" }, "no container id"},
	} {
		p := proto.Clone(good).(*podintv1.Probe)
		tc.change(p)
		_, err := c.Register(ctx, &podintv1.RegisterRequest{Probe: p})
		if status.Code(err) != codes.InvalidArgument || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v; want InvalidArgument saying %q", tc.name, err, tc.want)
		}
	}
	// Nothing refused was stored; the good registration is accepted again.
	if _, err := c.Register(ctx, &podintv1.RegisterRequest{Probe: good}); err != nil {
		t.Errorf("re-registering pod a: %v", err)
	}
	if ids := probeIDs(t, ctx, n.Node); len(ids) != 2 {
		t.Errorf("probes %v, want a's and b's only", ids)
	}
}

// WatchTopology sends the topology, then again when a pod comes; Reports
// streams the reports the daemon sends, filtered by address; Health is ok.
func TestTopologyAndReportStreams(t *testing.T) {
	n := startNode(t, harness.NodeConfig{})
	ctx := testContext(t)
	a, b := addPod(t, n.Node, "a"), addPod(t, n.Node, "b")
	c := client(t, n.Node)

	watch, err := c.WatchTopology(ctx, &podintv1.TopologyRequest{})
	if err != nil {
		t.Fatal(err)
	}
	first, err := watch.Recv()
	if err != nil || len(first.GetPorts()) != 2 {
		t.Fatalf("first topology: %v, %v; want the two pods", first, err)
	}
	pc := addPod(t, n.Node, "c")
	for {
		topo, err := watch.Recv()
		if err != nil {
			t.Fatalf("no topology with pod c: %v", err)
		}
		if hasPod(topo, pc.ContainerID) {
			break
		}
	}

	sctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stream, err := c.Reports(sctx, &podintv1.ReportsRequest{Ip: pc.IP.String()})
	if err != nil {
		t.Fatal(err)
	}
	// A stream's error comes with its first message.
	bad, err := c.Reports(ctx, &podintv1.ReportsRequest{Ip: "10.0.0.300"})
	if err == nil {
		_, err = bad.Recv()
	}
	if status.Code(err) != codes.InvalidArgument || !strings.Contains(err.Error(), "10.0.0.300") {
		t.Errorf("an invalid ip: %v, want InvalidArgument naming it", err)
	}
	// The stream is open on the daemon's side once it counts it.
	waitCounter(t, ctx, n.Node, "report_streams", 1)
	// Traffic a -> b does not involve c: the stream must skip it.
	echoTCP(t, a, b, 7080)
	sport := echoTCP(t, a, pc, 7081)
	for {
		ev, err := stream.Recv()
		if err != nil {
			t.Fatalf("no report of a -> c on the stream: %v", err)
		}
		f := ev.GetFlow()
		if f.GetSrc() != pc.IP.String() && f.GetDst() != pc.IP.String() {
			t.Fatalf("the stream filtered on %s carried %v", pc.IP, ev)
		}
		if f.GetSrc() == a.IP.String() && f.GetSrcPort() == uint32(sport) && f.GetDstPort() == 7081 {
			if ev.GetKind() != podintv1.ReportEvent_KIND_FLOW || int(ev.GetIngressPort()) != vethIndex(t, a) ||
				int(ev.GetEgressPort()) != vethIndex(t, pc) || ev.GetHopLatencyNs() == 0 || ev.GetTimeUnixNano() == 0 {
				t.Errorf("report of a -> c: %v; want a flow from a's veth to c's with a hop latency", ev)
			}
			break
		}
	}
	h, err := c.Health(ctx, &podintv1.HealthRequest{})
	if err != nil || !h.GetOk() {
		t.Errorf("health %v, %v; want ok", h, err)
	}
	if got := counter(t, ctx, n.Node, "report_stream_delivered"); got == 0 {
		t.Error("report_stream_delivered is 0 after a stream got reports")
	}
}

func hasPod(t *podintv1.TopologyResponse, containerID string) bool {
	for _, p := range t.GetPorts() {
		if p.GetPod().GetContainerId() == containerID {
			return true
		}
	}
	return false
}

// podintctl prints the topology in each of its formats and streams reports.
func TestPodintctlTopologyAndWatch(t *testing.T) {
	n := startNode(t, harness.NodeConfig{})
	a, b := addPod(t, n.Node, "a"), addPod(t, n.Node, "b")
	ctl := func(args ...string) string {
		t.Helper()
		out, err := exec.Command(filepath.Join(binDir, "podintctl"), append([]string{"--root", n.Paths.Root}, args...)...).CombinedOutput()
		if err != nil {
			t.Fatalf("podintctl %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		return string(out)
	}
	table := ctl("topology")
	for _, want := range []string{"switch id 10.0.0.1", "default/a", "default/b", a.IP.String() + "/24", "10.22.0.0/24"} {
		if !strings.Contains(table, want) {
			t.Errorf("topology table lacks %q:\n%s", want, table)
		}
	}
	if dot := ctl("topology", "-o", "dot"); !strings.HasPrefix(dot, "graph podint {") || !strings.Contains(dot, "default/b") {
		t.Errorf("topology -o dot:\n%s", dot)
	}
	var di struct {
		Switches []struct {
			SwitchID uint32 `json:"switchId"`
		} `json:"switches"`
		Hosts []struct {
			IP string `json:"ip"`
		} `json:"hosts"`
		Links []map[string]string `json:"links"`
	}
	if err := json.Unmarshal([]byte(ctl("topology", "-o", "deepinsight")), &di); err != nil {
		t.Fatal(err)
	}
	if len(di.Switches) != 1 || di.Switches[0].SwitchID != switchID10001 || len(di.Hosts) != 2 || len(di.Links) != 2 {
		t.Errorf("deepinsight document %+v: want the node's switch, two hosts, two links", di)
	}
	if health := ctl("health"); !strings.Contains(health, "ok") {
		t.Errorf("podintctl health: %q", health)
	}
	if stats := ctl("stats"); !strings.Contains(stats, "kernel_ringbuf_full") || !strings.Contains(stats, "events_received") {
		t.Errorf("podintctl stats lacks the loss counters:\n%s", stats)
	}
	var probes struct {
		Probes []struct {
			HostInterface string `json:"hostInterface"`
		} `json:"probes"`
	}
	if err := json.Unmarshal([]byte(ctl("probes", "-o", "json")), &probes); err != nil || len(probes.Probes) != 2 {
		t.Errorf("podintctl probes -o json: %d probes (err %v), want 2", len(probes.Probes), err)
	}

	watch := exec.Command(filepath.Join(binDir, "podintctl"), "--root", n.Paths.Root, "watch", "--ip", b.IP.String())
	stdout, err := watch.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := watch.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { watch.Process.Kill(); watch.Wait() }()
	// The stream starts when watch has connected; send until a line comes.
	lines := make(chan string)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
	}()
	want := "flow udp " + a.IP.String()
	ctx := testContext(t)
	for {
		sendUDP(t, a, netipAddrPort(b, 7090), 0)
		select {
		case line, ok := <-lines:
			if !ok {
				t.Fatal("podintctl watch ended")
			}
			if strings.Contains(line, want) {
				if !strings.Contains(line, "(default/a) -> ") || !strings.Contains(line, "(default/b)") || !strings.Contains(line, " hop ") {
					t.Errorf("watch line %q: want the ports named after the pods and the hop latency", line)
				}
				return
			}
		case <-ctx.Done():
			t.Fatal("podintctl watch printed no report of a -> b")
		case <-afterSecond():
		}
	}
}
