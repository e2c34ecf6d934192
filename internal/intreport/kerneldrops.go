package intreport

import "strings"

// podint's own drop reason codes (128 and up), each standing for a family of
// Linux kernel drop reasons (enum skb_drop_reason) that has no INT code.
// Which kernel reasons each stands for is kernelDropReasons and
// kernelDropReasonPrefixes, and README.md's table (tested against them).
const (
	DropReasonNoSocket   uint8 = 128 // no socket for the destination port
	DropReasonL4Checksum uint8 = 129 // a transport (or skb) checksum failed
	DropReasonNeighbour  uint8 = 130 // no ARP/ND answer for the next hop
	DropReasonMalformed  uint8 = 131 // headers too short, truncated or invalid
	DropReasonSocket     uint8 = 132 // the receiving socket refused or was full
	DropReasonTCPState   uint8 = 133 // the TCP state machine rejected the segment
	DropReasonBadAddress uint8 = 134 // an address this host does not accept
	DropReasonTunnel     uint8 = 135 // an overlay tunnel could not take it
	DropReasonNoMemory   uint8 = 136 // out of memory
	DropReasonTooBig     uint8 = 137 // larger than the path MTU with DF set
	DropReasonFragment   uint8 = 138 // fragment reassembly failed
	DropReasonNoProtocol uint8 = 139 // no handler for the protocol
	DropReasonDevice     uint8 = 140 // the device could not take it
	DropReasonBPF        uint8 = 141 // a BPF program dropped it
)

// podintDropReasons name podint's codes; the collector knows them without
// the daemon telling it.
var podintDropReasons = map[uint8]string{
	DropReasonNoSocket:   "no socket",
	DropReasonL4Checksum: "l4 checksum",
	DropReasonNeighbour:  "neighbour unresolved",
	DropReasonMalformed:  "malformed packet",
	DropReasonSocket:     "socket refused",
	DropReasonTCPState:   "tcp state",
	DropReasonBadAddress: "bad address",
	DropReasonTunnel:     "tunnel",
	DropReasonNoMemory:   "no memory",
	DropReasonTooBig:     "packet too big",
	DropReasonFragment:   "fragment",
	DropReasonNoProtocol: "no protocol",
	DropReasonDevice:     "device",
	DropReasonBPF:        "bpf program",
}

func init() {
	for code, name := range podintDropReasons {
		if err := RegisterDropReasonName(code, name); err != nil {
			panic(err)
		}
	}
}

// kernelDropReasons maps kernel drop reason names (without the
// SKB_DROP_REASON_ prefix) to INT codes. Names absent here map by prefix
// (kernelDropReasonPrefixes), else to DropReasonUnknown.
var kernelDropReasons = map[string]uint8{
	"NOT_SPECIFIED":            DropReasonUnknown,
	"NETFILTER_DROP":           DropReasonACLDeny,
	"SECURITY_HOOK":            DropReasonACLDeny,
	"IP_INNOROUTES":            DropReasonRoutingMiss,
	"IP_OUTNOROUTES":           DropReasonRoutingMiss,
	"IP_CSUM":                  DropReasonIPChecksum,
	"QDISC_DROP":               DropReasonTrafficManager,
	"QDISC_OVERLIMIT":          DropReasonTrafficManager,
	"QDISC_CONGESTED":          DropReasonTrafficManager,
	"CAKE_FLOOD":               DropReasonTrafficManager,
	"CPU_BACKLOG":              DropReasonTrafficManager,
	"FULL_RING":                DropReasonTrafficManager,
	"QUEUE_PURGE":              DropReasonTrafficManager,
	"DUALPI2_STEP_DROP":        DropReasonTrafficManager,
	"BRIDGE_INGRESS_STP_STATE": DropReasonBridgingMiss,
	"MAC_INVALID_SOURCE":       DropReasonBridgingMiss,
	"LOCAL_MAC":                DropReasonBridgingMiss,
	"UNICAST_IN_L2_MULTICAST":  DropReasonBridgingMiss,
	"NO_SOCKET":                DropReasonNoSocket,
	"TCP_CSUM":                 DropReasonL4Checksum,
	"UDP_CSUM":                 DropReasonL4Checksum,
	"ICMP_CSUM":                DropReasonL4Checksum,
	"SKB_CSUM":                 DropReasonL4Checksum,
	"PKT_TOO_SMALL":            DropReasonMalformed,
	"HDR_TRUNC":                DropReasonMalformed,
	"IP_INHDR":                 DropReasonMalformed,
	"IPV6_BAD_EXTHDR":          DropReasonMalformed,
	"INVALID_PROTO":            DropReasonMalformed,
	"PROTO_MEM":                DropReasonSocket,
	"OTHERHOST":                DropReasonBadAddress,
	"IP_RPFILTER":              DropReasonBadAddress,
	"IP_INVALID_SOURCE":        DropReasonBadAddress,
	"IP_INVALID_DEST":          DropReasonBadAddress,
	"IP_LOCAL_SOURCE":          DropReasonBadAddress,
	"IP_LOCALNET":              DropReasonBadAddress,
	"IP_INADDRERRORS":          DropReasonBadAddress,
	"IP_TUNNEL_ECN":            DropReasonTunnel,
	"TUNNEL_TXINFO":            DropReasonTunnel,
	"NOMEM":                    DropReasonNoMemory,
	"PFMEMALLOC":               DropReasonNoMemory,
	"PKT_TOO_BIG":              DropReasonTooBig,
	"DUP_FRAG":                 DropReasonFragment,
	"FRAG_REASM_TIMEOUT":       DropReasonFragment,
	"FRAG_TOO_FAR":             DropReasonFragment,
	"IP_NOPROTO":               DropReasonNoProtocol,
	"UNHANDLED_PROTO":          DropReasonNoProtocol,
	"DEV_READY":                DropReasonDevice,
	"DEV_HDR":                  DropReasonDevice,
	"NO_TX_TARGET":             DropReasonDevice,
	"BPF_CGROUP_EGRESS":        DropReasonBPF,
	"TC_INGRESS":               DropReasonBPF,
	"TC_EGRESS":                DropReasonBPF,
	"XDP":                      DropReasonBPF,
}

var kernelDropReasonPrefixes = []struct {
	prefix string
	code   uint8
}{
	{"NEIGH_", DropReasonNeighbour},
	{"SOCKET_", DropReasonSocket},
	{"TCP_", DropReasonTCPState},
	{"VXLAN_", DropReasonTunnel},
	{"FRAG_", DropReasonFragment},
	{"TAP_", DropReasonDevice},
	{"FQ_", DropReasonTrafficManager},
	{"IPV6_NDISC_", DropReasonMalformed},
}

// KernelDropReasonCode maps a kernel drop reason, by name (with or without
// the SKB_DROP_REASON_ prefix), to an INT drop reason code. ttl is the
// dropped packet's IPv4 TTL or IPv6 hop limit (-1 when unknown): the kernel
// reports an expired TTL as a header error (IP_INHDR), which podint tells
// apart by looking at the packet.
func KernelDropReasonCode(name string, ttl int) uint8 {
	name = strings.TrimPrefix(name, "SKB_DROP_REASON_")
	if name == "IP_INHDR" && ttl >= 0 && ttl <= 1 {
		return DropReasonIPTTLZero
	}
	if code, ok := kernelDropReasons[name]; ok {
		return code
	}
	for _, p := range kernelDropReasonPrefixes {
		if strings.HasPrefix(name, p.prefix) {
			return p.code
		}
	}
	return DropReasonUnknown
}
