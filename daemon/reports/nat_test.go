package reports

import (
	"net/netip"
	"testing"

	"github.com/podint/podint/bpf"
	"github.com/podint/podint/internal/intreport"
)

func key(src string, sport uint16, dst string, dport uint16) bpf.FlowKey {
	return bpf.FlowKey{Saddr: netip.MustParseAddr(src).As16(), Daddr: netip.MustParseAddr(dst).As16(),
		Sport: sport, Dport: dport, Proto: intreport.ProtoTCP}
}

func flowOf(src string, sport uint16, dst string, dport uint16) intreport.Flow {
	return intreport.Flow{Src: netip.MustParseAddr(src), Dst: netip.MustParseAddr(dst), Proto: intreport.ProtoTCP,
		SrcPort: sport, DstPort: dport}
}

func TestTranslationNamesTheService(t *testing.T) {
	for _, c := range []struct {
		name        string
		dir         uint8
		before      bpf.FlowKey
		after       intreport.Flow
		wantNAT     bool
		wantService string
	}{
		{"no conntrack entry", bpf.CtNone, bpf.FlowKey{}, flowOf("10.22.1.2", 40000, "10.22.1.3", 8080), false, ""},
		{"untranslated", bpf.CtOriginal, key("10.22.1.2", 40000, "10.22.1.3", 8080), flowOf("10.22.1.2", 40000, "10.22.1.3", 8080), false, ""},
		{"ClusterIP request, DNATed", bpf.CtOriginal, key("10.22.1.2", 40000, "10.96.0.10", 80), flowOf("10.22.1.2", 40000, "10.22.1.3", 8080), true, "10.96.0.10:80"},
		{"ClusterIP reply, un-DNATed", bpf.CtReply, key("10.22.1.3", 8080, "10.22.1.2", 40000), flowOf("10.96.0.10", 80, "10.22.1.2", 40000), true, "10.96.0.10:80"},
		{"masquerade request", bpf.CtOriginal, key("10.22.1.2", 40000, "192.168.60.9", 443), flowOf("192.168.50.1", 61000, "192.168.60.9", 443), true, ""},
		{"masquerade reply", bpf.CtReply, key("192.168.60.9", 443, "192.168.50.1", 61000), flowOf("192.168.60.9", 443, "10.22.1.2", 40000), true, ""},
		{"IPv6 Service", bpf.CtOriginal, key("fd00:22::2", 40000, "fd00:96::10", 80), flowOf("fd00:22::2", 40000, "fd00:22:1::5", 8080), true, "[fd00:96::10]:80"},
	} {
		t.Run(c.name, func(t *testing.T) {
			ev := &bpf.Event{Type: bpf.EventFlow, CtDir: c.dir, PreNat: c.before}
			got := translation(ev, c.after)
			if (got != nil) != c.wantNAT {
				t.Fatalf("translation %v, want one: %v", got, c.wantNAT)
			}
			if got == nil {
				return
			}
			if got.GetService() != c.wantService || got.GetReply() != (c.dir == bpf.CtReply) {
				t.Errorf("service %q reply %v, want %q %v", got.GetService(), got.GetReply(), c.wantService, c.dir == bpf.CtReply)
			}
			if b := got.GetBefore(); b.GetSrc() != netip.AddrFrom16(c.before.Saddr).Unmap().String() || b.GetDstPort() != uint32(c.before.Dport) {
				t.Errorf("before %v, want the conntrack flow %v", b, c.before)
			}
		})
	}
}

func TestAServiceAddressSelectsItsConnections(t *testing.T) {
	h := NewHub(16)
	svc := h.Subscribe(Filter{IP: netip.MustParseAddr("10.96.0.10")})
	defer svc.Close()
	after := flowOf("10.22.1.2", 40000, "10.22.1.3", 8080)
	r := &intreport.Report{Kind: intreport.KindFlow, Flow: after}
	h.Publish(&bpf.Event{Type: bpf.EventFlow, CtDir: bpf.CtOriginal, PreNat: key("10.22.1.2", 40000, "10.96.0.10", 80)}, r)
	h.Publish(&bpf.Event{Type: bpf.EventFlow, CtDir: bpf.CtOriginal, PreNat: key("10.22.1.2", 40000, "10.22.1.3", 8080)}, r)
	h.Publish(&bpf.Event{Type: bpf.EventFlow}, r)
	if n := len(svc.C()); n != 1 {
		t.Fatalf("--ip 10.96.0.10 got %d reports, want the one DNATed from it", n)
	}
	if ev := <-svc.C(); ev.GetNat().GetService() != "10.96.0.10:80" {
		t.Errorf("report %v, want service 10.96.0.10:80", ev)
	}
}
