package main

import (
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"

	podintv1 "github.com/podint/podint/proto/podint/v1"
)

func TestFormatReport(t *testing.T) {
	names := func(p uint32) string { return map[uint32]string{3: "default/a", 4: "default/b"}[p] }
	flow := &podintv1.ReportEvent{Kind: podintv1.ReportEvent_KIND_FLOW, IngressPort: 3, EgressPort: 4, HopLatencyNs: proto.Uint64(13200),
		Packets: 5, Bytes: 400, Flow: &podintv1.Flow{Src: "10.22.0.2", Dst: "10.22.0.3", Proto: 6, SrcPort: 41480, DstPort: 8080}}
	got := formatReport(flow, names)
	want := "flow tcp 10.22.0.2:41480 -> 10.22.0.3:8080 port 3 (default/a) -> 4 (default/b) hop 13.2µs packets 5 bytes 400"
	if !strings.HasSuffix(got, want) {
		t.Errorf("flow line %q, want it to end in %q", got, want)
	}
	drop := &podintv1.ReportEvent{Kind: podintv1.ReportEvent_KIND_DROP, IngressPort: 9, DropReason: 80, DropReasonName: "acl deny",
		KernelDropReasonName: "NETFILTER_DROP", Flow: &podintv1.Flow{Src: "fd00::2", Dst: "fd00::3", Proto: 17, SrcPort: 5353, DstPort: 53}}
	got = formatReport(drop, names)
	want = "drop udp [fd00::2]:5353 -> [fd00::3]:53 port 9 reason 80 acl deny (NETFILTER_DROP)"
	if !strings.HasSuffix(got, want) {
		t.Errorf("drop line %q, want it to end in %q", got, want)
	}
	icmp := &podintv1.ReportEvent{Kind: podintv1.ReportEvent_KIND_FLOW, IngressPort: 3, EgressPort: 4,
		Flow: &podintv1.Flow{Src: "10.22.0.2", Dst: "10.22.0.3", Proto: 1, SrcPort: 8}}
	if got := formatReport(icmp, names); !strings.Contains(got, "icmp 10.22.0.2 -> 10.22.0.3 type 8 code 0") || !strings.Contains(got, " hop - ") && !strings.HasSuffix(got, " hop -") {
		t.Errorf("icmp line %q: want type and code, and hop - when no hop latency was measured", got)
	}
	zero := &podintv1.ReportEvent{Kind: podintv1.ReportEvent_KIND_FLOW, IngressPort: 3, EgressPort: 4, HopLatencyNs: proto.Uint64(0),
		Flow: &podintv1.Flow{Src: "10.22.0.2", Dst: "10.22.0.3", Proto: 17, SrcPort: 1, DstPort: 2}}
	if got := formatReport(zero, names); !strings.HasSuffix(got, " hop 0s") {
		t.Errorf("line %q: a hop latency that is there is printed, even 0", got)
	}
}

func TestFormatReportShowsTheService(t *testing.T) {
	names := func(uint32) string { return "" }
	tcp := func(src string, sport uint32, dst string, dport uint32) *podintv1.Flow {
		return &podintv1.Flow{Src: src, Dst: dst, Proto: 6, SrcPort: sport, DstPort: dport}
	}
	for _, c := range []struct {
		flow *podintv1.Flow
		nat  *podintv1.Translation
		want string
	}{
		{tcp("10.22.0.2", 41480, "10.22.0.3", 8080),
			&podintv1.Translation{Before: tcp("10.22.0.2", 41480, "10.96.0.10", 80), Service: "10.96.0.10:80"},
			"flow tcp 10.22.0.2:41480 -> svc 10.96.0.10:80 -> 10.22.0.3:8080 port"},
		{tcp("10.96.0.10", 80, "10.22.0.2", 41480),
			&podintv1.Translation{Before: tcp("10.22.0.3", 8080, "10.22.0.2", 41480), Reply: true, Service: "10.96.0.10:80"},
			"flow tcp 10.22.0.3:8080 -> svc 10.96.0.10:80 -> 10.22.0.2:41480 port"},
		{tcp("192.168.50.1", 61000, "1.1.1.1", 443),
			&podintv1.Translation{Before: tcp("10.22.0.2", 41480, "1.1.1.1", 443)},
			"flow tcp 10.22.0.2:41480 (as 192.168.50.1:61000) -> 1.1.1.1:443 port"},
		{tcp("1.1.1.1", 443, "10.22.0.2", 41480),
			&podintv1.Translation{Before: tcp("1.1.1.1", 443, "192.168.50.1", 61000), Reply: true},
			"flow tcp 1.1.1.1:443 -> 10.22.0.2:41480 (was 192.168.50.1:61000) port"},
	} {
		ev := &podintv1.ReportEvent{Kind: podintv1.ReportEvent_KIND_FLOW, IngressPort: 3, EgressPort: 4, Flow: c.flow, Nat: c.nat}
		if got := formatReport(ev, names); !strings.Contains(got, c.want) {
			t.Errorf("line %q, want it to contain %q", got, c.want)
		}
	}
}
