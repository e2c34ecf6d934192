package store_test

import (
	"context"
	"net/netip"
	"os"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/podint/podint/collector/identity"
	"github.com/podint/podint/collector/path"
	"github.com/podint/podint/collector/store"
	"github.com/podint/podint/internal/intreport"
	"github.com/podint/podint/test/harness"
)

func startPostgres(t *testing.T) *harness.Postgres {
	t.Helper()
	if os.Getenv("PODINT_SKIP_POSTGRES") != "" {
		t.Skip("PODINT_SKIP_POSTGRES is set")
	}
	pg, err := harness.NewPostgres(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pg.Close() })
	return pg
}

// openStore opens the store on a private PostgreSQL of the test's own,
// closed when the test ends.
func openStore(t *testing.T) *store.Postgres {
	t.Helper()
	s, err := store.OpenPostgres(context.Background(), startPostgres(t).DSN())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	return s
}

var (
	t0   = time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	flow = intreport.Flow{Src: netip.MustParseAddr("10.22.1.5"), Dst: netip.MustParseAddr("10.22.2.6"),
		Proto: intreport.ProtoTCP, SrcPort: 40000, DstPort: 5432}
	web = identity.Pod{Namespace: "shop", Name: "web-1", UID: "u-web", Node: "n1"}
	db  = identity.Pod{Namespace: "data", Name: "db-0", UID: "u-db", Node: "n2"}
)

// batch is one interval with one path of two hops (node 1, node 2) and a
// drop on node 2.
func batch(id string, reports uint64) *store.Batch { return batchAt(id, reports, t0) }

func batchAt(id string, reports uint64, t0 time.Time) *store.Batch {
	h1 := &path.Hop{SwitchID: 0xc0a83201, Node: "n1", IngressPort: 10, EgressPort: 2, Position: path.PositionSource,
		Reports: reports, Bytes: 100 * reports, FirstSeen: t0.Add(time.Second), LastSeen: t0.Add(2 * time.Second)}
	h2 := &path.Hop{SwitchID: 0xc0a83202, Node: "n2", IngressPort: 2, EgressPort: 20, Position: path.PositionDestination,
		Reports: reports, FirstSeen: t0.Add(time.Second), LastSeen: t0.Add(2 * time.Second),
		Drops: map[uint8]uint64{intreport.DropReasonNoSocket: 1}}
	for range reports {
		h1.Latency.Observe(4 * time.Microsecond)
		h2.Latency.Observe(30 * time.Microsecond)
	}
	return &store.Batch{ID: id, Interval: path.Interval{Start: t0, Paths: []*path.Path{
		{Interval: t0, Flow: flow, Src: web, Dst: db, Hops: []*path.Hop{h1, h2}},
	}, Samples: []path.Sample{{At: t0.Add(time.Second), From: netip.MustParseAddrPort("192.168.50.1:40000"),
		SwitchID: 0xc0a83201, Flow: flow, HopLatency: 4 * time.Microsecond}}}}
}

func count(t *testing.T, pool *pgxpool.Pool, q string, args ...any) int64 {
	t.Helper()
	var n int64
	if err := pool.QueryRow(context.Background(), q, args...).Scan(&n); err != nil {
		t.Fatalf("%s: %v", q, err)
	}
	return n
}

func TestWriteIsIdempotentAndMergesAcrossRestarts(t *testing.T) {
	ctx := context.Background()
	s := openStore(t)
	if err := s.Write(ctx, batch("a", 3)); err != nil {
		t.Fatal(err)
	}
	// The same batch again (a retry whose first try committed): no change.
	if err := s.Write(ctx, batch("a", 3)); err != nil {
		t.Fatal(err)
	}
	// A restarted collector's (or another replica's) part of the interval.
	if err := s.Write(ctx, batch("b", 2)); err != nil {
		t.Fatal(err)
	}
	pool := s.Pool()
	if n := count(t, pool, "SELECT count(*) FROM flow_hops"); n != 2 {
		t.Errorf("%d hop rows, want 2 (one per hop, merged)", n)
	}
	if n := count(t, pool, "SELECT reports FROM flow_hops WHERE node = 'n1'"); n != 5 {
		t.Errorf("node 1 hop has %d reports, want 3+2", n)
	}
	if n := count(t, pool, "SELECT count FROM hop_drops"); n != 2 {
		t.Errorf("drop count %d, want 1+1", n)
	}
	if n := count(t, pool, "SELECT count(*) FROM report_samples"); n != 2 {
		t.Errorf("%d samples, want 2 (one per distinct batch)", n)
	}
	// The path as users query it: both hops in order, pods named.
	var route, srcPod, dstNS string
	var lat int64
	err := pool.QueryRow(ctx, "SELECT route, src_pod, dst_namespace, latency_ns FROM paths").Scan(&route, &srcPod, &dstNS, &lat)
	if err != nil {
		t.Fatal(err)
	}
	if route != "n1[10>2] -> n2[2>20]" || srcPod != "web-1" || dstNS != "data" || lat != 34000 {
		t.Errorf("path %q %s %s %dns, want n1[10>2] -> n2[2>20] web-1 data 34000ns", route, srcPod, dstNS, lat)
	}
	if n := count(t, pool, "SELECT podint_latency_quantile(latency_buckets, 0.99, latency_max_ns) FROM flow_hops WHERE node = 'n2'"); n != 30000 {
		t.Errorf("node 2 p99 %dns, want 30000 (the max, inside the 50µs bucket)", n)
	}
	if n := count(t, pool, "SELECT count(*) FROM drops WHERE node = 'n2' AND reason_name <> ''"); n != 1 {
		t.Errorf("drops view: %d rows on n2 with a reason name, want 1", n)
	}
	// Retention removes what is older than the cut.
	if _, err := s.Retain(ctx, t0.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if n := count(t, pool, "SELECT (SELECT count(*) FROM flow_hops) + (SELECT count(*) FROM report_samples) + (SELECT count(*) FROM hop_drops)"); n != 0 {
		t.Errorf("%d rows left after retention", n)
	}
}

func TestOlderSchemaMigrates(t *testing.T) {
	pg := startPostgres(t)
	ctx := context.Background()
	pool, err := pgxpool.New(ctx, pg.DSN())
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	v1, err := os.ReadFile("migrations/0001_paths.sql")
	if err != nil {
		t.Fatal(err)
	}
	// A database a version-1 collector left, with its data.
	if _, err := pool.Exec(ctx, `CREATE TABLE schema_migrations (version integer PRIMARY KEY, name text NOT NULL,
		applied_at timestamptz NOT NULL DEFAULT now()); INSERT INTO schema_migrations (version, name) VALUES (1, '0001_paths.sql');`+string(v1)); err != nil {
		t.Fatal(err)
	}
	s, err := store.OpenPostgres(ctx, pg.DSN())
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Write(ctx, batch("v1", 1)); err != nil {
		t.Fatal(err)
	}
	s.Close()
	// A second start applies nothing twice.
	s, err = store.OpenPostgres(ctx, pg.DSN())
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if n := count(t, pool, "SELECT max(version) FROM schema_migrations"); n != int64(store.SchemaVersion()) || n < 2 {
		t.Errorf("schema version %d, want %d", n, store.SchemaVersion())
	}
	if n := count(t, pool, "SELECT count(*) FROM paths"); n != 1 {
		t.Errorf("%d paths after the migration, want 1", n)
	}
}

// Two replicas, each receiving one node's reports, write their hops of the
// same flow; the path is joined by query.
func TestReplicasHopsJoinIntoOnePath(t *testing.T) {
	ctx := context.Background()
	s := openStore(t)
	full := batch("full", 2)
	p := full.Paths[0]
	node1 := &store.Batch{ID: "replica-1", Interval: path.Interval{Start: t0, Paths: []*path.Path{
		{Interval: t0, Flow: p.Flow, Src: p.Src, Dst: p.Dst, Hops: p.Hops[:1]}}}}
	node2 := &store.Batch{ID: "replica-2", Interval: path.Interval{Start: t0, Paths: []*path.Path{
		{Interval: t0, Flow: p.Flow, Src: p.Src, Dst: p.Dst, Hops: p.Hops[1:]}}}}
	for _, b := range []*store.Batch{node2, node1} {
		if err := s.Write(ctx, b); err != nil {
			t.Fatal(err)
		}
	}
	var route string
	var hops int64
	if err := s.Pool().QueryRow(ctx, "SELECT route, hops FROM paths").Scan(&route, &hops); err != nil {
		t.Fatal(err)
	}
	if route != "n1[10>2] -> n2[2>20]" || hops != 2 {
		t.Errorf("path %q with %d hops, want n1[10>2] -> n2[2>20]", route, hops)
	}
}
