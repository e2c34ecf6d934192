// Package intreport owns podint's INT telemetry report wire formats:
// Telemetry Report v0.5 (what DeepInsight and SD-Fabric switches emit, the
// default) and Telemetry Report v2.0 (P4.org). It encodes the reports the
// daemon sends and decodes them for collectors, so both sides share one
// definition of every bit. docs/int-reports.md describes the formats and the
// conventions (switch id, port id, timestamps, drop codes).
package intreport

import (
	"fmt"
	"net/netip"
	"strconv"
	"strings"
)

const (
	// DefaultSnapLen is how many bytes of the inner frame (from its Ethernet
	// header) a report carries unless configured otherwise.
	DefaultSnapLen = 128
	// DefaultPort is the UDP port collectors listen on (DeepInsight's).
	DefaultPort = 32766
)

// IP protocol numbers of the flows podint reports with ports.
const (
	ProtoICMP   uint8 = 1
	ProtoTCP    uint8 = 6
	ProtoUDP    uint8 = 17
	ProtoICMPv6 uint8 = 58
	ProtoSCTP   uint8 = 132
)

// Flow is the 5-tuple of a reported packet. For ICMP and ICMPv6, SrcPort
// holds the message type and DstPort the code, as most flow tools do, so
// that echo requests and replies are separate flows. For other protocols
// without ports both are zero.
type Flow struct {
	Src, Dst         netip.Addr
	Proto            uint8
	SrcPort, DstPort uint16
}

// IsValid reports whether f has two addresses of the same family, which is
// what it takes to synthesize an IP header from it.
func (f Flow) IsValid() bool {
	return f.Src.IsValid() && f.Dst.IsValid() && f.Src.Is4() == f.Dst.Is4()
}

// String renders f as "tcp 10.0.0.1:40000 -> 10.0.0.2:5201", or for ICMP
// "icmp 10.0.0.1 -> 10.0.0.2 type 8 code 0".
func (f Flow) String() string {
	if !f.IsValid() {
		return ProtoName(f.Proto) + " ?"
	}
	switch f.Proto {
	case ProtoTCP, ProtoUDP, ProtoSCTP:
		return fmt.Sprintf("%s %s -> %s", ProtoName(f.Proto),
			netip.AddrPortFrom(f.Src, f.SrcPort), netip.AddrPortFrom(f.Dst, f.DstPort))
	case ProtoICMP, ProtoICMPv6:
		return fmt.Sprintf("%s %s -> %s type %d code %d", ProtoName(f.Proto), f.Src, f.Dst, f.SrcPort, f.DstPort)
	}
	return fmt.Sprintf("%s %s -> %s", ProtoName(f.Proto), f.Src, f.Dst)
}

// ProtoName names an IP protocol number ("tcp", "udp", ..., "proto 47").
func ProtoName(p uint8) string {
	switch p {
	case ProtoICMP:
		return "icmp"
	case ProtoTCP:
		return "tcp"
	case ProtoUDP:
		return "udp"
	case ProtoICMPv6:
		return "icmpv6"
	case ProtoSCTP:
		return "sctp"
	}
	return "proto " + strconv.Itoa(int(p))
}

// Kind says what a report tells: a packet forwarded through the node (a
// flow report) or a packet the node dropped (a drop report).
type Kind uint8

const (
	KindFlow Kind = iota
	KindDrop
)

func (k Kind) String() string {
	switch k {
	case KindFlow:
		return "flow"
	case KindDrop:
		return "drop"
	}
	return "kind " + strconv.Itoa(int(k))
}

// Report is one INT report about one packet, as the daemon builds it from a
// probe event. The node is an INT switch whose ports are its interfaces.
type Report struct {
	Kind           Kind
	SwitchID       uint32 // the node; by convention its IPv4 address
	IngressPort    uint32 // ifindex; v0.5 and the v2.0 level-1 ids carry its low 16 bits
	EgressPort     uint32 // ifindex; 0 for a drop before egress
	QueueID        uint8
	QueueOccupancy uint32 // 24 bits on the wire; larger values saturate
	IngressTS      uint64 // ns, kernel monotonic clock; v0.5 carries the low 32 bits
	EgressTS       uint64 // ns, same clock
	DropReason     uint8  // INT drop reason code, see DropReasonName
	Flow           Flow
	Frame          []byte // captured packet bytes, possibly truncated
	FrameL2        bool   // Frame starts at Ethernet; false: it starts at the IP header
	FrameLen       uint32 // length of the original packet counted from where Frame starts; 0 if unknown
	// NoIngress says, for a flow report, that no probed ingress port timed
	// the packet (a copy the bridge flooded, a packet the node's own stack
	// sent): its hop latency is unknown, and IngressTS is not an ingress
	// time (the probes put the egress time there). v2.0 leaves the hop
	// latency and ingress timestamp out; v0.5 sends ingress_ts = egress_ts.
	NoIngress bool
}

// HopLatency is the time the packet spent in the node, egress minus ingress
// timestamp, for a flow report; ok is false for a drop and for a flow
// report without a probed ingress (NoIngress): unknown, which is not 0.
// Decoded v0.5 timestamps are only 32 bits wide, so when both fit in 32
// bits and egress is below ingress the difference is taken modulo 2^32, as
// the spec says.
func (r *Report) HopLatency() (ns uint64, ok bool) {
	if r.Kind != KindFlow || r.NoIngress {
		return 0, false
	}
	if r.EgressTS >= r.IngressTS {
		return r.EgressTS - r.IngressTS, true
	}
	if r.EgressTS <= 0xffffffff && r.IngressTS <= 0xffffffff {
		return uint64(uint32(r.EgressTS) - uint32(r.IngressTS)), true
	}
	return 0, true
}

// Format is a telemetry report wire format.
type Format uint8

const (
	FormatV05 Format = iota // Telemetry Report v0.5, the default
	FormatV20               // Telemetry Report v2.0
)

func (f Format) String() string {
	switch f {
	case FormatV05:
		return "v0.5"
	case FormatV20:
		return "v2.0"
	}
	return "format " + strconv.Itoa(int(f))
}

// ParseFormat accepts "v0.5", "0.5", "v2.0", "2.0" and "v2" (any case); the
// empty string means the default, v0.5.
func ParseFormat(s string) (Format, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "", "v0.5", "0.5":
		return FormatV05, nil
	case "v2.0", "2.0", "v2", "2":
		return FormatV20, nil
	}
	return 0, fmt.Errorf("report format %q: want v0.5 or v2.0", s)
}

// MarshalText lets a Format appear in YAML or JSON configuration.
func (f Format) MarshalText() ([]byte, error) { return []byte(f.String()), nil }

// UnmarshalText is ParseFormat for configuration decoders.
func (f *Format) UnmarshalText(b []byte) error {
	v, err := ParseFormat(string(b))
	if err != nil {
		return err
	}
	*f = v
	return nil
}

// SeqMask is the largest sequence number of the format: the v0.5 header has
// 32 bits for it, the v2.0 group header 22.
func (f Format) SeqMask() uint32 {
	if f == FormatV20 {
		return 1<<22 - 1
	}
	return 1<<32 - 1
}

// Sequence numbers the datagrams sent to one collector from one hw_id. It
// starts at 1 and wraps to 0 after the format's largest number, so that a
// collector computing gaps modulo the field width sees no loss at the wrap.
type Sequence struct {
	mask uint32
	next uint32
}

// NewSequence returns a sequence whose first number is 1.
func NewSequence(f Format) Sequence { return SequenceFrom(f, 1) }

// SequenceFrom returns a sequence whose first number is next (reduced to
// the format's width); tests use it to reach the wrap quickly.
func SequenceFrom(f Format, next uint32) Sequence {
	m := f.SeqMask()
	return Sequence{mask: m, next: next & m}
}

// Next returns the next number and advances.
func (s *Sequence) Next() uint32 {
	v := s.next
	s.next = (s.next + 1) & s.mask
	return v
}
