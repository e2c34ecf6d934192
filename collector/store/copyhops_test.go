package store_test

import (
	"context"
	"net/netip"
	"slices"
	"testing"
	"time"

	"github.com/podint/podint/collector/path"
	"github.com/podint/podint/collector/store"
	"github.com/podint/podint/internal/intreport"
)

// The hops' rows are encoded by hand in COPY's binary format: every
// column reads back as written, IPv6 addresses and microsecond times too.
func TestHopRowsReadBackAsWritten(t *testing.T) {
	ctx := context.Background()
	s := openStore(t)
	start := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	f := intreport.Flow{Src: netip.MustParseAddr("fd00:22::5"), Dst: netip.MustParseAddr("fd00:23::6"), Proto: intreport.ProtoUDP, SrcPort: 53000, DstPort: 53}
	h := &path.Hop{SwitchID: 0xc0a83202, Node: "n2", IngressPort: 70000, EgressPort: 5, Position: path.PositionDestination,
		Reports: 3, Bytes: 4500, FirstSeen: start.Add(1234567 * time.Microsecond), LastSeen: start.Add(9 * time.Second),
		Drops: map[uint8]uint64{intreport.DropReasonNoSocket: 2}}
	h.Latency.Observe(3 * time.Microsecond)
	h.Latency.Observe(700 * time.Millisecond)
	p := &path.Path{Interval: start, Flow: f, Src: web, Dst: db, Hops: []*path.Hop{h}, Service: netip.MustParseAddrPort("[fd00:96::a]:53")}
	if err := s.Write(ctx, &store.Batch{ID: "v6", Interval: path.Interval{Start: start, Paths: []*path.Path{p}}}); err != nil {
		t.Fatal(err)
	}
	var (
		iv, first, last                      time.Time
		proto, position                      int16
		src, dst, swIP, srcUID, node, dstPod string
		sport, dport                         int32
		swID, in, out, reports, bytes, drops int64
		sum, most                            int64
		service                              string
		servicePort                          int32
		buckets                              []int64
	)
	err := s.Pool().QueryRow(ctx, `SELECT interval_start, proto, host(src_ip), src_port, host(dst_ip), dst_port, src_pod_uid,
		switch_id, ingress_port, egress_port, host(switch_ip), node, position, dst_pod, reports, bytes, drops,
		latency_buckets, latency_sum_ns, latency_max_ns, first_seen, last_seen, host(service_ip), service_port FROM flow_hops`).Scan(
		&iv, &proto, &src, &sport, &dst, &dport, &srcUID, &swID, &in, &out, &swIP, &node, &position, &dstPod,
		&reports, &bytes, &drops, &buckets, &sum, &most, &first, &last, &service, &servicePort)
	if err != nil {
		t.Fatal(err)
	}
	want := make([]int64, len(h.Latency.Counts))
	for i, c := range h.Latency.Counts {
		want[i] = int64(c)
	}
	if !iv.Equal(start) || proto != 17 || src != "fd00:22::5" || sport != 53000 || dst != "fd00:23::6" || dport != 53 ||
		srcUID != web.UID || swID != 0xc0a83202 || in != 70000 || out != 5 || swIP != "192.168.50.2" || node != "n2" ||
		position != int16(path.PositionDestination) || dstPod != db.Name || reports != 3 || bytes != 4500 || drops != 2 ||
		!slices.Equal(buckets, want) || sum != int64(h.Latency.Sum) || most != int64(700*time.Millisecond) ||
		!first.Equal(h.FirstSeen) || !last.Equal(h.LastSeen) || service != "fd00:96::a" || servicePort != 53 {
		t.Errorf("row read back: %v %d %s:%d %s:%d uid %q switch %d %s ports %d>%d node %q pos %d pod %q reports %d bytes %d drops %d buckets %v sum %d max %d seen %v..%v service %s:%d",
			iv, proto, src, sport, dst, dport, srcUID, swID, swIP, in, out, node, position, dstPod, reports, bytes, drops, buckets, sum, most, first, last, service, servicePort)
	}
}
