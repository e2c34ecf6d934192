package store_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/podint/podint/collector/store"
)

// waitFor polls cond until it holds or the test's generous deadline ends:
// no timing threshold, only an outcome.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(2 * time.Minute)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func TestDatabaseDownFillsTheQueueCountsLossAndRecovers(t *testing.T) {
	pg := startPostgres(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	s, err := store.OpenPostgres(ctx, pg.DSN())
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	q := store.NewQueue(s, 2, nil)
	done := make(chan struct{})
	go func() { q.Run(ctx, time.Second); close(done) }()

	if !q.Put(batch("before", 1)) {
		t.Fatal("an empty queue refused a batch")
	}
	waitFor(t, "the first batch to be written", func() bool { return q.Stats().Written == 1 })

	if err := pg.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	// One batch is being retried by the writer, two wait, the rest overflow;
	// Put never blocks. Each batch summarizes 3 reports (2 flow, 1 drop).
	accepted := 0
	for i := range 10 {
		if q.Put(batch(fmt.Sprint("down-", i), 1)) {
			accepted++
		}
	}
	waitFor(t, "a failed write", func() bool { return q.Stats().WriteErrors > 0 })
	st := q.Stats()
	if st.Overflow == 0 || st.Overflow+uint64(accepted) != 10 || st.OverflowReports != 3*st.Overflow {
		t.Errorf("with the database down: %+v, accepted %d of 10; want the rest counted as overflow with their reports", st, accepted)
	}
	if err := pg.Start(ctx); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the queued batches to be written after the database returned", func() bool {
		return q.Stats().Written == uint64(1+accepted)
	})
	if n := count(t, s.Pool(), "SELECT count(*) FROM write_batches"); n != int64(1+accepted) {
		t.Errorf("%d batches in the database, want %d", n, 1+accepted)
	}
	cancel()
	<-done
}
