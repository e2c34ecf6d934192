package service

import (
	"context"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/podint/podint/internal/intreport"
	"github.com/podint/podint/test/harness"
)

func postgres(t *testing.T) *harness.Postgres {
	t.Helper()
	pg, err := harness.NewPostgres(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pg.Close() })
	return pg
}

// running starts a collector on loopback storing into dsn with interval
// iv, and returns it with a function that stops it (flushing what it holds).
func running(t *testing.T, dsn string, iv time.Duration) (*Collector, func()) {
	t.Helper()
	cfg := Default()
	cfg.Receive.Listen, cfg.HTTPListen, cfg.Topology.Port = "127.0.0.1:0", "", 0
	cfg.DatabaseURL, cfg.Interval, cfg.QueueBatches = dsn, iv, 2
	c, err := New(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- c.Run(ctx) }()
	return c, func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	}
}

// send sends n v0.5 flow reports of one flow through switch 127.0.0.1,
// sequence numbers from seq.
func send(t *testing.T, to netip.AddrPort, seq uint32, n int) {
	t.Helper()
	conn, err := net.Dial("udp", to.String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	for i := range n {
		r := &intreport.Report{Kind: intreport.KindFlow, SwitchID: 0x7f000001, IngressPort: 3, EgressPort: 2,
			IngressTS: 1000, EgressTS: 5000, Flow: intreport.Flow{Src: netip.MustParseAddr("10.22.1.5"),
				Dst: netip.MustParseAddr("10.22.2.6"), Proto: intreport.ProtoTCP, SrcPort: 40000, DstPort: 80}}
		if _, err := conn.Write(intreport.AppendV05(nil, r, 1, seq+uint32(i), 64)); err != nil {
			t.Fatal(err)
		}
	}
}

func waitReports(t *testing.T, c *Collector, n uint64) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for c.Sources.Totals().Reports < n {
		if time.Now().After(deadline) {
			t.Fatalf("%d reports received, want %d", c.Sources.Totals().Reports, n)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func scalar(t *testing.T, dsn, q string) int64 {
	t.Helper()
	pool, err := pgxpool.New(context.Background(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	var n int64
	if err := pool.QueryRow(context.Background(), q).Scan(&n); err != nil {
		t.Fatalf("%s: %v", q, err)
	}
	return n
}

// A collector restarted within an interval writes the rest of it into the
// same rows: one row per hop, the reports of both runs.
func TestRestartWithinAnIntervalWritesNoDuplicateRows(t *testing.T) {
	pg := postgres(t)
	for run, seq := range []uint32{1, 100} {
		c, stop := running(t, pg.DSN(), time.Hour) // both runs in one interval
		send(t, c.ReportAddr(), seq, 5)
		waitReports(t, c, 5)
		stop()
		if got := scalar(t, pg.DSN(), "SELECT count(*) FROM write_batches"); got != int64(run+1) {
			t.Fatalf("after run %d: %d batches written, want %d", run+1, got, run+1)
		}
	}
	if rows := scalar(t, pg.DSN(), "SELECT count(*) FROM flow_hops"); rows != 1 {
		t.Errorf("%d hop rows, want 1", rows)
	}
	if n := scalar(t, pg.DSN(), "SELECT reports FROM flow_hops"); n != 10 {
		t.Errorf("%d reports in the row, want 5 of each run", n)
	}
}

// The database down: the collector keeps receiving, counts the intervals
// it cannot keep, and stores again once the database is back, by itself.
func TestDatabaseDownThenBack(t *testing.T) {
	pg := postgres(t)
	c, stop := running(t, pg.DSN(), 200*time.Millisecond)
	defer stop()
	if err := pg.Stop(context.Background()); err != nil {
		t.Fatal(err)
	}
	// Reports keep arriving in many intervals while the queue (2) fills.
	seq := uint32(1)
	for c.Queue.Stats().Overflow == 0 {
		send(t, c.ReportAddr(), seq, 1)
		seq++
		time.Sleep(50 * time.Millisecond)
		if seq > 2000 {
			t.Fatalf("no overflow counted with the database down: %+v", c.Queue.Stats())
		}
	}
	if st := c.Queue.Stats(); st.OverflowReports == 0 || st.WriteErrors == 0 {
		t.Errorf("queue %+v: want the lost reports and the failed writes counted", st)
	}
	if got := c.Sources.Totals(); got.Reports != uint64(seq-1) || got.Lost != 0 {
		t.Errorf("receive path %+v: want every report received, none lost, while the database is down", got)
	}
	metrics := gather(t, c)
	if !strings.Contains(metrics, "podint_collector_store_overflow_batches_total") {
		t.Errorf("metrics lack the overflow")
	}
	if err := pg.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	written := c.Queue.Stats().Written
	deadline := time.Now().Add(2 * time.Minute)
	for c.Queue.Stats().Written < written+3 {
		send(t, c.ReportAddr(), seq, 1)
		seq++
		time.Sleep(50 * time.Millisecond)
		if time.Now().After(deadline) {
			t.Fatalf("writes did not resume: %+v", c.Queue.Stats())
		}
	}
	if n := scalar(t, pg.DSN(), "SELECT count(*) FROM flow_hops"); n == 0 {
		t.Error("nothing stored after the database came back")
	}
}

func gather(t *testing.T, c *Collector) string {
	t.Helper()
	fams, err := c.Metrics.Registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, f := range fams {
		names = append(names, f.GetName())
	}
	return strings.Join(names, "\n")
}
