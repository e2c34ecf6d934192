package reports

import (
	"net/netip"

	"github.com/podint/podint/bpf"
	"github.com/podint/podint/daemon/events"
	"github.com/podint/podint/internal/intreport"
	podintv1 "github.com/podint/podint/proto/podint/v1"
)

// translation says how NAT rewrote a reported packet, from the flow its
// conntrack entry recorded for the packet's direction (the packet as it
// entered the node); nil when it has no entry or NAT left it alone.
func translation(ev *bpf.Event, after intreport.Flow) *podintv1.Translation {
	if ev.Type != bpf.EventFlow || ev.CtDir == bpf.CtNone {
		return nil
	}
	before := events.FlowOf(&ev.PreNat)
	if before.Src == after.Src && before.Dst == after.Dst && before.SrcPort == after.SrcPort && before.DstPort == after.DstPort {
		return nil
	}
	t := &podintv1.Translation{Before: apiFlow(before), Reply: ev.CtDir == bpf.CtReply}
	// The Service is where the connection was sent: the original
	// direction's destination before DNAT, which the reply direction
	// carries as its source once un-DNATed.
	switch {
	case !t.Reply && (before.Dst != after.Dst || before.DstPort != after.DstPort):
		t.Service = serviceAddr(before.Dst, before.DstPort, before.Proto)
	case t.Reply && (before.Src != after.Src || before.SrcPort != after.SrcPort):
		t.Service = serviceAddr(after.Src, after.SrcPort, after.Proto)
	}
	return t
}

// serviceAddr is host:port, or the address alone for protocols without
// ports.
func serviceAddr(a netip.Addr, port uint16, proto uint8) string {
	switch proto {
	case intreport.ProtoTCP, intreport.ProtoUDP, intreport.ProtoSCTP:
		return netip.AddrPortFrom(a, port).String()
	}
	return a.String()
}

func apiFlow(f intreport.Flow) *podintv1.Flow {
	return &podintv1.Flow{
		Src: addrString(f.Src), Dst: addrString(f.Dst), Proto: uint32(f.Proto),
		SrcPort: uint32(f.SrcPort), DstPort: uint32(f.DstPort),
	}
}
