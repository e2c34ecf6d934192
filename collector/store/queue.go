package store

import (
	"context"
	"log/slog"
	"sync"
	"time"
)

// QueueStats is what the queue did.
type QueueStats struct {
	Depth, Capacity   int
	Written           uint64 // batches stored
	Overflow          uint64 // batches dropped because the queue was full
	OverflowReports   uint64 // reports those batches summarized
	WriteErrors       uint64 // failed attempts (each retried)
	LastWriteDuration time.Duration
}

// Queue hands batches to a Store from one writer goroutine. Put never
// blocks: a full queue drops the batch and counts it.
type Queue struct {
	store   Store
	ch      chan *Batch
	observe func(time.Duration) // write latency, for the metrics

	mu    sync.Mutex
	stats QueueStats
}

// NewQueue returns a queue of capacity batches in front of s. observe, if
// not nil, is called with the duration of every successful write.
func NewQueue(s Store, capacity int, observe func(time.Duration)) *Queue {
	if observe == nil {
		observe = func(time.Duration) {}
	}
	return &Queue{store: s, ch: make(chan *Batch, capacity), observe: observe}
}

// Put queues b; false (counted) when the queue is full.
func (q *Queue) Put(b *Batch) bool {
	select {
	case q.ch <- b:
		return true
	default:
		q.mu.Lock()
		q.stats.Overflow++
		q.stats.OverflowReports += b.Reports()
		q.mu.Unlock()
		return false
	}
}

// Stats returns what the queue did.
func (q *Queue) Stats() QueueStats {
	q.mu.Lock()
	defer q.mu.Unlock()
	s := q.stats
	s.Depth, s.Capacity = len(q.ch), cap(q.ch)
	return s
}

// Run writes batches until ctx ends, then writes what is queued (and the
// batch it was writing) with drainTimeout to do it. A failed write is
// retried with a back-off (the batch's ID keeps the retry from counting
// twice) while later batches wait in the queue.
func (q *Queue) Run(ctx context.Context, drainTimeout time.Duration) {
	var pending *Batch // not stored when ctx ended
	for pending == nil {
		select {
		case b := <-q.ch:
			if !q.write(ctx, b) {
				pending = b
			}
		case <-ctx.Done():
			pending = &Batch{} // nothing in flight
		}
	}
	dctx, cancel := context.WithTimeout(context.Background(), drainTimeout)
	defer cancel()
	if pending.ID != "" {
		q.drain(dctx, pending)
	}
	for {
		select {
		case b := <-q.ch:
			q.drain(dctx, b)
		default:
			return
		}
	}
}

// drain writes b at shutdown; what does not make it in time is counted.
func (q *Queue) drain(ctx context.Context, b *Batch) {
	if q.write(ctx, b) {
		return
	}
	q.mu.Lock()
	q.stats.Overflow++
	q.stats.OverflowReports += b.Reports()
	q.mu.Unlock()
	slog.Warn("batch not stored at shutdown", "interval", b.Start, "reports", b.Reports())
}

// write stores b, retrying until it is stored (true) or ctx ends (false).
func (q *Queue) write(ctx context.Context, b *Batch) bool {
	backoff := 100 * time.Millisecond
	failing := false
	for {
		start := time.Now()
		err := q.store.Write(ctx, b)
		if err == nil {
			d := time.Since(start)
			q.observe(d)
			q.mu.Lock()
			q.stats.Written++
			q.stats.LastWriteDuration = d
			q.mu.Unlock()
			if failing {
				slog.Info("store writes again", "interval", b.Start)
			}
			return true
		}
		if ctx.Err() != nil {
			return false
		}
		q.mu.Lock()
		q.stats.WriteErrors++
		q.mu.Unlock()
		if !failing { // one line per outage, not per attempt
			slog.Warn("store write failed; retrying while the queue fills", "interval", b.Start, "err", err)
			failing = true
		}
		select {
		case <-ctx.Done():
			return false
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, 5*time.Second)
	}
}
