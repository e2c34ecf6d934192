package bpf

import (
	"net"
	"runtime"
	"testing"

	"github.com/cilium/ebpf/ringbuf"
	"github.com/gopacket/gopacket/layers"
	"golang.org/x/sys/unix"

	"github.com/podint/podint/bpf/pins"
)

// The ingress probe keys its record by the sk_buff's address, and every
// BPF_PROG_TEST_RUN call builds a new sk_buff. The kernel's slab hands a
// freed sk_buff straight back to the next allocation on the same CPU, so
// an ingress run followed by an egress run on one pinned CPU usually see
// the same sk_buff: the situation of a live packet, and of a reused buffer.
// A run that got another buffer is neither paired nor refused, and is
// tried again.
const pairAttempts = 2000

// pairOutcome is what the egress probe made of the record an ingress run
// left: paired (hop latency known), refused (the same sk_buff, but the
// record was judged another packet's: kernel_inflight_stale), or neither
// (the egress run had another sk_buff).
type pairOutcome int

const (
	outcomeOtherBuffer pairOutcome = iota
	outcomePaired
	outcomeRefused
)

// pinCPU keeps the test's runs on one CPU for the rest of the test.
func pinCPU(t *testing.T) {
	t.Helper()
	runtime.LockOSThread()
	t.Cleanup(runtime.UnlockOSThread)
	var set unix.CPUSet
	if err := unix.SchedGetaffinity(0, &set); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = unix.SchedSetaffinity(0, &set) })
	var one unix.CPUSet
	for cpu := 0; cpu < 1024; cpu++ {
		if set.IsSet(cpu) {
			one.Set(cpu)
			break
		}
	}
	if err := unix.SchedSetaffinity(0, &one); err != nil {
		t.Fatal(err)
	}
}

// ingressThenEgress runs the ingress probe on in and the egress probe on
// out, as a packet seen entering and leaving the node, and says what the
// egress probe made of it.
func ingressThenEgress(t *testing.T, p *Collection, rd *ringbuf.Reader, in, out []byte) pairOutcome {
	t.Helper()
	clearFlows(t, p) // a new flow always reports, paired or not
	before, err := p.Counters()
	if err != nil {
		t.Fatal(err)
	}
	runProbe(t, p.Program(pins.Ingress), in)
	runProbe(t, p.Program(pins.Egress), out)
	after, err := p.Counters()
	if err != nil {
		t.Fatal(err)
	}
	evs := drain(t, rd)
	if len(evs) != 1 {
		t.Fatalf("%d events for one egress packet, want 1", len(evs))
	}
	if evs[0].CtDir != CtNone || evs[0].PreNat != (FlowKey{}) {
		t.Fatalf("a test-run packet has no conntrack entry, yet the event has ct_dir %d, pre-NAT flow %+v", evs[0].CtDir, evs[0].PreNat)
	}
	stale := after[probeCounterCOUNTER_INFLIGHT_STALE] - before[probeCounterCOUNTER_INFLIGHT_STALE]
	switch {
	case evs[0].Cause&CauseNoIngress == 0:
		if stale != 0 {
			t.Fatalf("paired and counted stale at once")
		}
		if evs[0].IngressTs == evs[0].EgressTs || evs[0].IngressTs == 0 {
			t.Fatalf("paired without an ingress time: ingress_ts %d egress_ts %d", evs[0].IngressTs, evs[0].EgressTs)
		}
		return outcomePaired
	case stale != 0:
		return outcomeRefused
	}
	return outcomeOtherBuffer
}

// natPair is one packet as it entered the node and as it left it.
type natPair struct {
	name    string
	in, out []byte
}

func tcpFrame(t *testing.T, src, dst net.IP, sport, dport uint16, seq uint32) []byte {
	i := ip4(layers.IPProtocolTCP)
	i.SrcIP, i.DstIP = src, dst
	l := tcp(sport, dport, func(l *layers.TCP) { l.Seq = seq; l.Ack = 99 })
	return serialize(t, eth(layers.EthernetTypeIPv4), i, withNet(l, i), payload(20))
}

// vlanTagged inserts an 802.1Q tag after the MAC addresses of frame, so
// that the probes read it with the helper-based parser: the direct and the
// helper parser must compute the same signature.
func vlanTagged(frame []byte) []byte {
	out := append([]byte{}, frame[:12]...)
	out = append(out, 0x81, 0x00, 0x00, 100)
	return append(out, frame[12:]...)
}

func tcp6Frame(t *testing.T, src, dst net.IP, sport, dport uint16, seq uint32) []byte {
	i := ip6(layers.IPProtocolTCP)
	i.SrcIP, i.DstIP, i.FlowLabel = src, dst, 0x12345
	l := tcp(sport, dport, func(l *layers.TCP) { l.Seq = seq })
	return serialize(t, eth(layers.EthernetTypeIPv6), i, withNet(l, i), payload(20))
}

func udpFrame(t *testing.T, src, dst net.IP, sport, dport uint16, first byte) []byte {
	i := ip4(layers.IPProtocolUDP)
	i.SrcIP, i.DstIP = src, dst
	pl := payload(10)
	pl[0] = first
	return serialize(t, eth(layers.EthernetTypeIPv4), i, withNet(udp(sport, dport), i), pl)
}

// udpOptionsFrame carries IPv4 options, so the probes read it with the
// helper-based parser rather than the direct one.
func udpOptionsFrame(t *testing.T, src, dst net.IP, sport, dport uint16) []byte {
	i := ip4(layers.IPProtocolUDP)
	i.SrcIP, i.DstIP = src, dst
	i.Options = []layers.IPv4Option{{OptionType: 1}, {OptionType: 1}, {OptionType: 1}, {OptionType: 0}}
	return serialize(t, eth(layers.EthernetTypeIPv4), i, withNet(udp(sport, dport), i), payload(10))
}

func icmpEchoFrame(t *testing.T, src, dst net.IP, id, seq uint16) []byte {
	i := ip4(layers.IPProtocolICMPv4)
	i.SrcIP, i.DstIP = src, dst
	return serialize(t, eth(layers.EthernetTypeIPv4), i,
		&layers.ICMPv4{TypeCode: layers.CreateICMPv4TypeCode(8, 0), Id: id, Seq: seq}, payload(8))
}

var (
	podA      = net.IP{10, 22, 0, 2}
	podB      = net.IP{10, 22, 1, 5}
	clusterIP = net.IP{10, 96, 0, 10}
	nodeIP    = net.IP{192, 168, 50, 1}
	outside   = net.IP{192, 168, 60, 9}
	podA6     = net.ParseIP("fd00:22::2")
	svc6      = net.ParseIP("fd00:96::10")
	podB6     = net.ParseIP("fd00:22:1::5")
)

func TestARewrittenTuplePairsWithItsIngressRecord(t *testing.T) {
	p := loadForTest(t)
	rd, err := ringbuf.NewReader(p.Events())
	if err != nil {
		t.Fatal(err)
	}
	defer rd.Close()
	pinCPU(t)
	for _, c := range []natPair{
		{"no NAT", tcpFrame(t, podA, podB, 40000, 8080, 1000), tcpFrame(t, podA, podB, 40000, 8080, 1000)},
		{"DNAT ClusterIP:80 to backend:8080", tcpFrame(t, podA, clusterIP, 40000, 80, 1000), tcpFrame(t, podA, podB, 40000, 8080, 1000)},
		{"reply un-DNATed", tcpFrame(t, podB, podA, 8080, 40000, 7), tcpFrame(t, clusterIP, podA, 80, 40000, 7)},
		{"masquerade to the node address", tcpFrame(t, podA, outside, 40000, 443, 5), tcpFrame(t, nodeIP, outside, 61000, 443, 5)},
		{"hairpin: DNAT and SNAT", tcpFrame(t, podA, clusterIP, 40000, 80, 3), tcpFrame(t, nodeIP, podA, 61000, 8080, 3)},
		{"IPv6 DNAT", tcp6Frame(t, podA6, svc6, 40000, 80, 11), tcp6Frame(t, podA6, podB6, 40000, 8080, 11)},
		{"UDP DNAT", udpFrame(t, podA, clusterIP, 5353, 53, 1), udpFrame(t, podA, podB, 5353, 1053, 1)},
		{"UDP masquerade, helper parser", udpOptionsFrame(t, podA, outside, 5353, 53), udpOptionsFrame(t, nodeIP, outside, 1024, 53)},
		{"TCP, direct parser in, helper parser out", tcpFrame(t, podA, clusterIP, 40000, 80, 9), vlanTagged(tcpFrame(t, podA, podB, 40000, 8080, 9))},
		{"UDP, helper parser in, direct parser out", vlanTagged(udpFrame(t, podA, clusterIP, 5353, 53, 1)), udpFrame(t, podA, podB, 5353, 1053, 1)},
		{"IPv6 TCP, helper parser in, direct parser out", vlanTagged(tcp6Frame(t, podA6, svc6, 40000, 80, 11)), tcp6Frame(t, podA6, podB6, 40000, 8080, 11)},
		{"ICMP echo masquerade rewrites the id", icmpEchoFrame(t, podA, outside, 17, 3), icmpEchoFrame(t, nodeIP, outside, 4242, 3)},
	} {
		t.Run(c.name, func(t *testing.T) {
			refused := 0
			for i := 0; i < pairAttempts; i++ {
				switch ingressThenEgress(t, p, rd, c.in, c.out) {
				case outcomePaired:
					t.Logf("paired on attempt %d", i+1)
					return
				case outcomeRefused:
					refused++
				}
			}
			t.Fatalf("never paired in %d attempts (%d times the same sk_buff was refused as another packet)", pairAttempts, refused)
		})
	}
}

func TestAnotherPacketOnTheSameBufferIsNotPaired(t *testing.T) {
	p := loadForTest(t)
	rd, err := ringbuf.NewReader(p.Events())
	if err != nil {
		t.Fatal(err)
	}
	defer rd.Close()
	pinCPU(t)
	for _, c := range []natPair{
		{"TCP, same flow, next segment", tcpFrame(t, podA, podB, 40000, 8080, 1000), tcpFrame(t, podA, podB, 40000, 8080, 1020)},
		{"TCP, NAT-like tuple, another segment", tcpFrame(t, podA, clusterIP, 40000, 80, 1000), tcpFrame(t, podA, podB, 40000, 8080, 1020)},
		{"IPv6 TCP, another segment", tcp6Frame(t, podA6, podB6, 40000, 8080, 11), tcp6Frame(t, podA6, podB6, 40000, 8080, 31)},
		{"UDP, same flow, another payload", udpFrame(t, podA, podB, 5353, 53, 1), udpFrame(t, podA, podB, 5353, 53, 2)},
		{"ICMP echo, next sequence", icmpEchoFrame(t, podA, outside, 17, 3), icmpEchoFrame(t, podA, outside, 17, 4)},
	} {
		t.Run(c.name, func(t *testing.T) {
			for i := 0; i < pairAttempts; i++ {
				switch ingressThenEgress(t, p, rd, c.in, c.out) {
				case outcomePaired:
					t.Fatalf("attempt %d: a packet was paired with another packet's ingress record", i+1)
				case outcomeRefused:
					t.Logf("the same sk_buff was refused on attempt %d", i+1)
					return
				}
			}
			t.Fatalf("the egress run never met the ingress run's sk_buff in %d attempts: nothing shown", pairAttempts)
		})
	}
}
