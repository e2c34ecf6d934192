package e2e

import (
	"context"
	"fmt"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/podint/podint/test/harness"
)

// startPtpClusterWithCollector is startPtpCluster whose nodes also send to
// a podint-collector in the fabric (startClusterWithCollector).
func startPtpClusterWithCollector(t *testing.T, nodes int, masq bool) (*collectorCluster, []*harness.Collector) {
	return startClusterWithCollector(t, harness.ClusterConfig{BinDir: binDir, Nodes: nodes,
		Node: harness.NodeConfig{Primary: "ptp", IPMasq: masq}}, true)
}

// servicePath is a flow the collector must store with the Service it was
// sent to ("" none) and its pods ("" unknown); zero ports match any.
type servicePath struct {
	proto          uint8
	src, dst       netip.Addr
	sport, dport   uint16
	service        string // ip:port
	srcPod, dstPod string
}

// expectServicePath polls the paths view until the flow's path has the
// Service and pods wanted.
func (cc *collectorCluster) expectServicePath(t *testing.T, ctx context.Context, want servicePath) {
	t.Helper()
	var seen []string
	for {
		// Not ctx: when it ends, the last query must still say what is stored.
		qctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		rows, err := cc.db.Query(qctx, `SELECT coalesce(host(service_ip) || ':' || service_port, ''), src_pod, dst_pod, route
			FROM paths WHERE proto = $1 AND src_ip = $2 AND dst_ip = $3 AND ($4 = 0 OR src_port = $4) AND ($5 = 0 OR dst_port = $5)`,
			int16(want.proto), want.src.String(), want.dst.String(), int32(want.sport), int32(want.dport))
		if err != nil {
			cancel()
			t.Fatal(err)
		}
		seen = seen[:0]
		for rows.Next() {
			var svc, srcPod, dstPod, route string
			if err := rows.Scan(&svc, &srcPod, &dstPod, &route); err != nil {
				t.Fatal(err)
			}
			if svc == want.service && srcPod == want.srcPod && dstPod == want.dstPod {
				rows.Close()
				cancel()
				return
			}
			seen = append(seen, fmt.Sprintf("service %q pods %q -> %q over %s", svc, srcPod, dstPod, route))
		}
		rows.Close()
		cancel()
		select {
		case <-ctx.Done():
			t.Fatalf("the collector stored no path of %d %s:%d -> %s:%d with service %q and pods %q -> %q; its paths of the flow: %v",
				want.proto, want.src, want.sport, want.dst, want.dport, want.service, want.srcPod, want.dstPod, seen)
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// expectClusterPaths waits until `podintctl cluster paths` (and graph)
// show pod a -> svc -> pod b, as an operator reads them.
func (cc *collectorCluster) expectClusterPaths(t *testing.T, ctx context.Context, src, service, dst string) {
	t.Helper()
	var out, dot string
	for ctx.Err() == nil {
		out = cc.podintctl(t, "cluster", "paths", "--since", "10m", "--limit", "1000")
		dot = cc.podintctl(t, "cluster", "graph", "--since", "10m")
		row := false
		for _, line := range strings.Split(out, "\n") {
			if f := strings.Fields(line); len(f) > 5 && f[2] == src && f[3] == "svc" && f[4] == service && f[5] == dst {
				row = true
			}
		}
		if row && strings.Contains(dot, fmt.Sprintf("%q -> %q", "pod:"+src, "svc:"+service)) {
			return
		}
		time.Sleep(300 * time.Millisecond)
	}
	t.Fatalf("podintctl cluster paths/graph do not show %s -> svc %s -> %s:\n%s\n%s", src, service, dst, out, dot)
}
