package e2e

import (
	"net"
	"net/netip"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"testing"

	"github.com/podint/podint/bpf"
	"github.com/podint/podint/internal/topology"
	podintv1 "github.com/podint/podint/proto/podint/v1"
	"github.com/podint/podint/test/harness"
)

// TestTheNodesOwnStackIsTheCPUPort: a pod queries a DNS-like UDP service
// listening on the node itself (node-local DNS). The queries leave through
// the CPU port, the answers enter through it, all with a hop latency; the
// topology names the port.
func TestTheNodesOwnStackIsTheCPUPort(t *testing.T) {
	c, cols := startPtpCluster(t, 1, false)
	ctx := testContext(t)
	n := c.Nodes[0]
	a := addPod(t, n, "a")
	ia := vethIndex(t, a)
	node := netip.AddrPortFrom(harness.NodeUplinkAddr(1), 53)
	var srv *net.UDPConn
	if err := n.NS.Do(func() (err error) {
		srv, err = net.ListenUDP("udp", net.UDPAddrFromAddrPort(node))
		return err
	}); err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	go func() {
		buf := make([]byte, 1500)
		for {
			k, from, err := srv.ReadFromUDPAddrPort(buf)
			if err != nil {
				return
			}
			_, _ = srv.WriteToUDPAddrPort(buf[:k], from)
		}
	}()

	var hops []hop
	for i := 0; i < 3; i++ {
		sp := udpExchange(t, a, node)
		hops = append(hops,
			hop{0, a.IP, node.Addr(), sp, 53, ia, bpf.CPUPort},
			hop{0, node.Addr(), a.IP, 53, sp, bpf.CPUPort, ia})
	}
	// A TCP connection to the node too (kubelet, a host-network pod).
	l, err := n.NS.ListenTCP(netip.AddrPortFrom(harness.NodeUplinkAddr(1), 10250))
	if err != nil {
		t.Fatal(err)
	}
	echoServer(t, l)
	sp := echoThrough(t, func() (net.Conn, error) { return a.DialTCP(ctx, "192.168.50.1:10250") })
	hops = append(hops,
		hop{0, a.IP, harness.NodeUplinkAddr(1), sp, 10250, ia, bpf.CPUPort},
		hop{0, harness.NodeUplinkAddr(1), a.IP, 10250, sp, bpf.CPUPort, ia})
	expectHops(t, ctx, cols, hops...)

	topo, err := client(t, n).Topology(ctx, &podintv1.TopologyRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if got := topo.GetNode().GetCpuPort(); got != bpf.CPUPort {
		t.Errorf("topology cpu_port %d, want %d", got, bpf.CPUPort)
	}
	out, err := exec.Command(filepath.Join(binDir, "podintctl"), "--root", n.Paths.Root, "topology").CombinedOutput()
	if err != nil || !regexp.MustCompile(`(?m)^1\s+lo\s+cpu\s`).Match(out) {
		t.Errorf("podintctl topology (%v) does not list the CPU port (1, lo, cpu):\n%s", err, out)
	}
	// Every rendering has it: DOT, the DeepInsight document, the HTTP
	// topology (int-host-reporter's shape).
	for format, want := range map[string]*regexp.Regexp{
		"dot":         regexp.MustCompile(`switch -- cpu \[label="port 1\\nCPU port"\]`),
		"deepinsight": regexp.MustCompile(`\{\s*"id": 1,\s*"name": "cpu"\s*\}`),
	} {
		out, err := exec.Command(filepath.Join(binDir, "podintctl"), "--root", n.Paths.Root, "topology", "-o", format).CombinedOutput()
		if err != nil || !want.Match(out) {
			t.Errorf("podintctl topology -o %s (%v) lacks the CPU port (%s):\n%s", format, err, want, out)
		}
	}
	if cpu := topology.HostReporter(topo).Links; !slices.ContainsFunc(cpu, func(l topology.HostReporterLink) bool {
		return l.ID == bpf.CPUPort && l.Kind == topology.LinkKindCPU
	}) {
		t.Errorf("the HTTP topology's links %+v lack the CPU port", cpu)
	}
}
