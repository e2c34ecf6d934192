// Package store keeps what podint-collector saw: per interval, one row per
// flow and hop (packets, bytes, hop latency histogram, drops by reason, both
// pods' identity), and a bounded sample of raw reports. Store is the
// database behind it (PostgreSQL today; ClickHouse can follow behind the
// same interface); Queue puts a bounded buffer between the receive path and
// the database, so a slow or absent database costs counted batches, never
// a blocked reader.
package store

import (
	"context"
	"time"

	"github.com/podint/podint/collector/path"
)

// Batch is one interval's paths and samples, written at once. Its ID makes
// the write idempotent: a batch written twice (a retry after a lost
// acknowledgement) counts once.
type Batch struct {
	ID string
	path.Interval
}

// Reports is how many reports the batch summarizes.
func (b *Batch) Reports() uint64 {
	var n uint64
	for _, p := range b.Paths {
		for _, h := range p.Hops {
			n += h.Reports
			for _, d := range h.Drops {
				n += d
			}
		}
	}
	return n
}

// Store is a database of paths.
type Store interface {
	// Write stores b in one transaction. Rows of the same interval, flow,
	// pods and hop that are already there (another replica's, or this
	// collector's before a restart) are merged, never duplicated.
	Write(ctx context.Context, b *Batch) error
	// Retain deletes what is older than before and returns the rows deleted.
	Retain(ctx context.Context, before time.Time) (int64, error)
	Close()
}
