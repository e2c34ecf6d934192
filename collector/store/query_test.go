package store_test

import (
	"context"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/podint/podint/internal/collectorapi"
)

func TestQueriesUsersRun(t *testing.T) {
	ctx := context.Background()
	s := openStore(t)
	now := time.Now().Truncate(time.Second)
	if err := s.Write(ctx, batchAt("recent", 4, now.Add(-time.Minute))); err != nil {
		t.Fatal(err)
	}
	if err := s.Write(ctx, batchAt("old", 4, now.Add(-2*time.Hour))); err != nil {
		t.Fatal(err)
	}

	paths, err := s.SlowestPaths(ctx, collectorapi.PathQuery{Since: 5 * time.Minute, SrcNamespace: "shop", DstNamespace: "data"})
	if err != nil {
		t.Fatal(err)
	}
	if len(paths) != 1 || paths[0].Route != "n1[10>2] -> n2[2>20]" || paths[0].Src.Name() != "shop/web-1" ||
		paths[0].Dst.Name() != "data/db-0" || paths[0].LatencyNS != 34000 || paths[0].Src.Addr != "10.22.1.5:40000" {
		t.Errorf("slowest paths between shop and data in 5m: %+v, want the recent one only", paths)
	}
	if other, _ := s.SlowestPaths(ctx, collectorapi.PathQuery{SrcNamespace: "data"}); len(other) != 0 {
		t.Errorf("paths from namespace data: %+v, want none", other)
	}

	drops, err := s.Drops(ctx, collectorapi.DropQuery{Since: 5 * time.Minute, Namespace: "data", Pod: "db-0"})
	if err != nil {
		t.Fatal(err)
	}
	if len(drops) != 1 || drops[0].Node != "n2" || drops[0].Count != 1 || drops[0].IngressPort != 2 || drops[0].ReasonName == "" {
		t.Errorf("drops of data/db-0: %+v, want one on n2 at port 2 with its reason", drops)
	}

	g, err := s.Graph(ctx, 5*time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	dot := g.DOT()
	for _, want := range []string{`"pod:shop/web-1" -> "switch:n1"`, `"switch:n1" -> "switch:n2"`, `"switch:n2" -> "pod:data/db-0"`} {
		if !strings.Contains(dot, want) {
			t.Errorf("graph lacks %s:\n%s", want, dot)
		}
	}
	frames := g.NodeGraphFrames()
	if len(frames) != 2 || frames[0].Name != "nodes" || len(frames[0].Fields[0].Values) != 4 || len(frames[1].Fields[0].Values) != 3 {
		t.Errorf("node graph frames %+v, want 4 nodes and 3 edges", frames)
	}
}

// A path sent to a Service keeps it: the paths query and the graph show
// pod -> Service -> pod.
func TestPathsShowTheirService(t *testing.T) {
	ctx := context.Background()
	s := openStore(t)
	b := batchAt("svc", 2, time.Now().Truncate(time.Second).Add(-time.Minute))
	b.Paths[0].Service = netip.MustParseAddrPort("10.96.0.10:5432")
	if err := s.Write(ctx, b); err != nil {
		t.Fatal(err)
	}
	// Another replica's rows of the same hops, written without the
	// translation, keep the Service.
	b2 := batchAt("svc-2", 1, b.Start)
	if err := s.Write(ctx, b2); err != nil {
		t.Fatal(err)
	}
	paths, err := s.SlowestPaths(ctx, collectorapi.PathQuery{Since: 5 * time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	if len(paths) != 1 || paths[0].Service != "10.96.0.10:5432" || paths[0].Reports != 3 {
		t.Fatalf("paths %+v, want one with service 10.96.0.10:5432 and the reports of both writes", paths)
	}
	g, err := s.Graph(ctx, 5*time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	dot := g.DOT()
	for _, want := range []string{`"pod:shop/web-1" -> "svc:10.96.0.10:5432"`, `"svc:10.96.0.10:5432" -> "switch:n1"`, `"switch:n2" -> "pod:data/db-0"`} {
		if !strings.Contains(dot, want) {
			t.Errorf("graph lacks %s:\n%s", want, dot)
		}
	}
}

// A hop whose reports partly have no hop latency (no probed ingress timed
// the packet) has the mean of the timed ones in the graph, not a mean
// diluted by the untimed reports.
func TestGraphMeanLatencyLeavesUntimedReportsOut(t *testing.T) {
	ctx := context.Background()
	s := openStore(t)
	b := batchAt("partly-timed", 4, time.Now().Add(-time.Minute).Truncate(time.Second))
	h1 := b.Paths[0].Hops[0]
	h1.Reports += 4 // four more reports on node 1, none with a hop latency
	if err := s.Write(ctx, b); err != nil {
		t.Fatal(err)
	}
	g, err := s.Graph(ctx, 5*time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	var found bool
	for _, e := range g.Edges {
		if e.Source == "pod:shop/web-1" && e.Target == "switch:n1" {
			found = true
			if e.LatencyNS != 4000 || e.Reports != 8 {
				t.Errorf("edge into n1: %d ns over %d reports, want the timed reports' mean 4000 ns over all 8 reports", e.LatencyNS, e.Reports)
			}
		}
	}
	if !found {
		t.Errorf("no edge pod:shop/web-1 -> switch:n1 in %+v", g.Edges)
	}
	// The paths view (what the slowest-paths query and the dashboard read)
	// sums the hops' means the same way.
	var want int64
	for _, h := range b.Paths[0].Hops {
		var timed uint64
		for _, c := range h.Latency.Counts {
			timed += uint64(c)
		}
		want += int64(h.Latency.Sum) / int64(max(timed, 1))
	}
	var got int64
	if err := s.Pool().QueryRow(ctx, `SELECT latency_ns::bigint FROM paths`).Scan(&got); err != nil {
		t.Fatal(err)
	}
	if got != want {
		t.Errorf("paths view latency %d ns, want the timed reports' means summed, %d ns", got, want)
	}
}
