package bpf

import (
	"bytes"
	"encoding/binary"
	"errors"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/ringbuf"
	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"golang.org/x/sys/unix"

	"github.com/podint/podint/bpf/pins"
)

// tcxNext is TCX_NEXT (== TC_ACT_UNSPEC): "continue", as the kernel sees a
// program's return value.
const tcxNext = uint32(0xffffffff)

// wantFlow is what a probe must record for a packet; nil means nothing.
type wantFlow struct {
	src, dst     string
	proto        uint8
	sport, dport uint16
}

type packetCase struct {
	name  string
	frame []byte
	want  *wantFlow
}

// innerOffset is where the reported frame starts: the inner frame of an
// overlay packet, else the packet itself.
func innerOffset(tc packetCase) int {
	if strings.HasPrefix(tc.name, "vxlan inner") || strings.HasPrefix(tc.name, "vxlan on") || strings.HasPrefix(tc.name, "geneve") {
		return overlayHdrLen
	}
	return 0
}

func packetCases(t *testing.T) []packetCase {
	i4 := ip4(layers.IPProtocolTCP)
	i4u := ip4(layers.IPProtocolUDP)
	i6 := ip6(layers.IPProtocolTCP)
	i6u := ip6(layers.IPProtocolUDP)
	i6icmp := ip6(layers.IPProtocolICMPv6)
	i4opt := ip4(layers.IPProtocolTCP)
	i4opt.Options = []layers.IPv4Option{{OptionType: 1}, {OptionType: 1}, {OptionType: 1}, {OptionType: 0}} // NOP NOP NOP EOL
	i4frag := ip4(layers.IPProtocolUDP)
	i4frag.FragOffset = 185
	i4first := ip4(layers.IPProtocolUDP)
	i4first.Flags = layers.IPv4MoreFragments
	tcpWant := &wantFlow{"10.22.0.2", "10.22.0.3", 6, 40000, 5201}
	udpWant := &wantFlow{"10.22.0.2", "10.22.0.3", 17, 5353, 53}
	return []packetCase{
		{"ipv4 tcp", serialize(t, eth(layers.EthernetTypeIPv4), i4, withNet(tcp(40000, 5201, nil), i4), payload(20)), tcpWant},
		{"ipv4 udp", serialize(t, eth(layers.EthernetTypeIPv4), i4u, withNet(udp(5353, 53), i4u), payload(10)), udpWant},
		{"ipv4 with options", serialize(t, eth(layers.EthernetTypeIPv4), i4opt, withNet(tcp(40000, 5201, nil), i4opt)), tcpWant},
		{"ipv4 first fragment", serialize(t, eth(layers.EthernetTypeIPv4), i4first, withNet(udp(5353, 53), i4first), payload(100)), udpWant},
		{"ipv4 later fragment", serialize(t, eth(layers.EthernetTypeIPv4), i4frag, payload(64)),
			&wantFlow{"10.22.0.2", "10.22.0.3", 17, 0, 0}},
		{"ipv4 icmp echo", serialize(t, eth(layers.EthernetTypeIPv4), ip4(layers.IPProtocolICMPv4),
			&layers.ICMPv4{TypeCode: layers.CreateICMPv4TypeCode(8, 0), Id: 1, Seq: 1}, payload(8)),
			&wantFlow{"10.22.0.2", "10.22.0.3", 1, 8, 0}},
		{"ipv4 sctp", serialize(t, eth(layers.EthernetTypeIPv4), ip4(layers.IPProtocolSCTP),
			&layers.SCTP{SrcPort: 3868, DstPort: 3869}), &wantFlow{"10.22.0.2", "10.22.0.3", 132, 3868, 3869}},
		{"ipv4 gre by address", serialize(t, eth(layers.EthernetTypeIPv4), ip4(layers.IPProtocolGRE), payload(8)),
			&wantFlow{"10.22.0.2", "10.22.0.3", 47, 0, 0}},
		{"ipv6 tcp", serialize(t, eth(layers.EthernetTypeIPv6), i6, withNet(tcp(40000, 5201, nil), i6)),
			&wantFlow{"fd00:22::2", "fd00:22::3", 6, 40000, 5201}},
		{"ipv6 udp", serialize(t, eth(layers.EthernetTypeIPv6), i6u, withNet(udp(5353, 53), i6u)),
			&wantFlow{"fd00:22::2", "fd00:22::3", 17, 5353, 53}},
		{"ipv6 icmpv6", serialize(t, eth(layers.EthernetTypeIPv6), i6icmp,
			withNet(&layers.ICMPv6{TypeCode: layers.CreateICMPv6TypeCode(128, 0)}, i6icmp), payload(8)),
			&wantFlow{"fd00:22::2", "fd00:22::3", 58, 128, 0}},
		{"ipv6 hop-by-hop and dest options", ipv6WithExtHeaders(t), &wantFlow{"fd00:22::2", "fd00:22::3", 17, 5353, 53}},
		{"vlan tagged ipv4 tcp", serialize(t, eth(layers.EthernetTypeDot1Q),
			&layers.Dot1Q{VLANIdentifier: 100, Type: layers.EthernetTypeIPv4}, i4, withNet(tcp(40000, 5201, nil), i4)), tcpWant},
		{"vxlan inner ipv4 tcp", overlay(t, 4789, vxlanHdr(), inner(t)), tcpWant},
		{"vxlan on linux port 8472", overlay(t, 8472, vxlanHdr(), inner(t)), tcpWant},
		{"geneve inner ipv4 tcp", overlay(t, 6081, []byte{0, 0, 0x65, 0x58, 0, 0, 42, 0}, inner(t)), tcpWant},
		{"vxlan with garbage inside keeps the outer flow", overlay(t, 4789, vxlanHdr(), []byte("not an ethernet frame at all....")),
			&wantFlow{"192.168.50.1", "192.168.50.2", 17, 40001, 4789}},
		{"arp", serialize(t, eth(layers.EthernetTypeARP), &layers.ARP{AddrType: layers.LinkTypeEthernet,
			Protocol: layers.EthernetTypeIPv4, HwAddressSize: 6, ProtAddressSize: 4, Operation: 1,
			SourceHwAddress: macA, SourceProtAddress: v4A.To4(), DstHwAddress: make([]byte, 6), DstProtAddress: v4B.To4()}), nil},
		{"garbage", []byte("this is not a packet, but it is long enough to look like one......"), nil},
		{"ipv4 header claims ihl 4", badIHL(t), nil},
	}
}

// ipv6WithExtHeaders is IPv6 / hop-by-hop / destination options / UDP.
func ipv6WithExtHeaders(t *testing.T) []byte {
	udpPart := serialize(t, withNet(udp(5353, 53), ip6(layers.IPProtocolUDP)), payload(4))
	ext := []byte{60, 0, 1, 4, 0, 0, 0, 0} // hop-by-hop: next = dest opts, len 0, PadN
	ext = append(ext, 17, 0, 1, 4, 0, 0, 0, 0)
	// Serialized as one payload so Ethernet padding cannot land between
	// the headers; then the next header field is pointed at hop-by-hop.
	f := serialize(t, eth(layers.EthernetTypeIPv6), ip6(layers.IPProtocolUDP), gopacket.Payload(append(ext, udpPart...)))
	f[14+6] = 0
	return f
}

func badIHL(t *testing.T) []byte {
	i := ip4(layers.IPProtocolTCP)
	b := serialize(t, eth(layers.EthernetTypeIPv4), i, withNet(tcp(1, 2, nil), i))
	b[14] = 0x44
	return b
}

// minTestRunLen: the kernel refuses BPF_PROG_TEST_RUN for frames shorter
// than an Ethernet plus a minimal IP header (EINVAL), so shorter frames
// cannot be fed to the probes this way; real ones are read through
// bpf_skb_load_bytes, bounded by skb->len, like every other length.
const minTestRunLen = 14 + 40

// runProbe runs prog once on frame and checks the verdict is "continue".
// It reports whether the kernel ran the program.
func runProbe(t *testing.T, prog *ebpf.Program, frame []byte) bool {
	t.Helper()
	ret, err := prog.Run(&ebpf.RunOptions{Data: frame, Repeat: 1})
	if err != nil {
		if errors.Is(err, unix.EINVAL) && len(frame) < minTestRunLen {
			return false
		}
		t.Fatalf("test run of %d bytes: %v", len(frame), err)
	}
	if ret != tcxNext {
		t.Fatalf("verdict %d, want TCX_NEXT/TC_ACT_UNSPEC (-1): the probe changed the packet's fate", int32(ret))
	}
	return true
}

func drain(t *testing.T, rd *ringbuf.Reader) []Event {
	t.Helper()
	var out []Event
	for {
		rd.SetDeadline(time.Now().Add(20 * time.Millisecond))
		rec, err := rd.Read()
		if err != nil {
			return out
		}
		var ev Event
		if err := binary.Read(bytesReader(rec.RawSample), binary.LittleEndian, &ev); err != nil {
			t.Fatalf("decode event: %v", err)
		}
		out = append(out, ev)
	}
}

func TestEveryPacketContinuesAndWellFormedOnesAreRecorded(t *testing.T) {
	p := loadForTest(t)
	rd, err := ringbuf.NewReader(p.Events())
	if err != nil {
		t.Fatal(err)
	}
	defer rd.Close()
	for _, tc := range packetCases(t) {
		t.Run(tc.name, func(t *testing.T) {
			clearFlows(t, p)
			runProbe(t, p.Program(pins.Ingress), tc.frame)
			runProbe(t, p.Program(pins.Egress), tc.frame)
			evs := drain(t, rd)
			if tc.want == nil {
				if len(evs) != 0 {
					t.Fatalf("recorded %d events for a packet that must not be: %+v", len(evs), evs[0].Flow)
				}
				return
			}
			if len(evs) != 1 {
				t.Fatalf("%d events, want 1", len(evs))
			}
			checkFlow(t, evs[0], tc.want)
			want := tc.frame[innerOffset(tc):]
			want = want[:min(len(want), MaxSnapLen)]
			if got := evs[0].Data[:evs[0].SnapLen]; !bytes.Equal(got, want) {
				t.Errorf("captured %d bytes, want the first %d of the (inner) frame", len(got), len(want))
			}
		})
	}
}

func TestTruncatedPacketsContinueAtEveryLength(t *testing.T) {
	p := loadForTest(t)
	rd, err := ringbuf.NewReader(p.Events())
	if err != nil {
		t.Fatal(err)
	}
	defer rd.Close()
	ran := 0
	for _, tc := range packetCases(t) {
		for n := 0; n < len(tc.frame); n++ {
			for _, d := range pins.HostHooks() {
				if runProbe(t, p.Program(d), tc.frame[:n]) {
					ran++
				}
			}
		}
	}
	if ran < 500 {
		t.Fatalf("only %d truncated frames ran", ran)
	}
	t.Logf("%d truncated frames ran, every one continued", ran)
	// A truncated packet may be recorded by address when its L4 header is
	// cut, but never with ports it does not carry.
	for _, ev := range drain(t, rd) {
		if ev.SnapLen == 0 {
			t.Errorf("event without captured bytes: %+v", ev.Flow)
		}
	}
}

func checkFlow(t *testing.T, ev Event, w *wantFlow) {
	t.Helper()
	src := netip.AddrFrom16(ev.Flow.Saddr).Unmap()
	dst := netip.AddrFrom16(ev.Flow.Daddr).Unmap()
	if src.String() != w.src || dst.String() != w.dst || ev.Flow.Proto != w.proto ||
		ev.Flow.Sport != w.sport || ev.Flow.Dport != w.dport {
		t.Fatalf("recorded %s -> %s proto %d ports %d -> %d, want %s -> %s proto %d ports %d -> %d",
			src, dst, ev.Flow.Proto, ev.Flow.Sport, ev.Flow.Dport, w.src, w.dst, w.proto, w.sport, w.dport)
	}
}

func clearFlows(t *testing.T, p *Collection) {
	t.Helper()
	m := p.Flows()
	empty := make([]byte, m.ValueSize())
	for i := uint32(0); i < m.MaxEntries(); i++ {
		if err := m.Put(i, empty); err != nil {
			t.Fatalf("clear flow table set %d: %v", i, err)
		}
	}
}

// inner is the pod packet an overlay carries.
func inner(t *testing.T) []byte {
	i4 := ip4(layers.IPProtocolTCP)
	return serialize(t, eth(layers.EthernetTypeIPv4), i4, withNet(tcp(40000, 5201, nil), i4), payload(20))
}

// overlayHdrLen is Ethernet + IPv4 + UDP + an 8-byte tunnel header.
const overlayHdrLen = 14 + 20 + 8 + 8

func vxlanHdr() []byte { return []byte{0x08, 0, 0, 0, 0, 0, 42, 0} }

// overlay wraps frame in Ethernet/IPv4/UDP to port plus a tunnel header,
// between two node addresses.
func overlay(t *testing.T, port uint16, tunnel, frame []byte) []byte {
	outer := &layers.IPv4{Version: 4, IHL: 5, TTL: 64, Protocol: layers.IPProtocolUDP,
		SrcIP: net.IP{192, 168, 50, 1}, DstIP: net.IP{192, 168, 50, 2}}
	return serialize(t, eth(layers.EthernetTypeIPv4), outer, withNet(udp(40001, port), outer),
		gopacket.Payload(append(append([]byte{}, tunnel...), frame...)))
}
