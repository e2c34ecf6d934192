package store

import (
	"cmp"
	"maps"
	"slices"

	"github.com/podint/podint/collector/path"
	"github.com/podint/podint/internal/intreport"
)

// hopRows walks a batch's hops: Next moves to the next, paths[p].Hops[h-1].
type hopRows struct {
	paths []*path.Path
	p, h  int
}

func (r *hopRows) Next() bool {
	for r.p < len(r.paths) {
		if r.h < len(r.paths[r.p].Hops) {
			r.h++
			return true
		}
		r.p, r.h = r.p+1, 0
	}
	return false
}

// hopKey appends the key columns of hop h of path pa to row.
func hopKey(row []any, pa *path.Path, h *path.Hop) []any {
	f := pa.Flow
	return append(row, pa.Interval, int16(f.Proto), addrOrZero(f.Src), int32(f.SrcPort), addrOrZero(f.Dst), int32(f.DstPort),
		uid(pa.Src), uid(pa.Dst), int64(h.SwitchID), int64(h.IngressPort), int64(h.EgressPort))
}

// dropRows is a batch's hop_drops rows for COPY: one per hop and reason.
type dropRows struct {
	paths   []*path.Path
	p, h    int
	reasons []uint8 // of the current hop, still to go
	row     []any
}

func (r *dropRows) Next() bool {
	for {
		if len(r.reasons) > 1 {
			r.reasons = r.reasons[1:]
			return true
		}
		r.reasons = r.reasons[:0]
		if r.p >= len(r.paths) {
			return false
		}
		if r.h >= len(r.paths[r.p].Hops) {
			r.p, r.h = r.p+1, 0
			continue
		}
		h := r.paths[r.p].Hops[r.h]
		r.h++
		if len(h.Drops) > 0 {
			r.reasons = slices.SortedFunc(maps.Keys(h.Drops), cmp.Compare[uint8])
			return true
		}
	}
}

func (r *dropRows) Values() ([]any, error) {
	pa := r.paths[r.p]
	h := pa.Hops[r.h-1]
	reason := r.reasons[0]
	r.row = append(hopKey(r.row[:0], pa, h), int16(reason), intreport.DropReasonName(reason), int64(h.Drops[reason]))
	return r.row, nil
}

func (r *dropRows) Err() error { return nil }
