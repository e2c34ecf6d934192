package path

import "time"

// LatencyBounds are the upper bounds of the hop latency histogram buckets;
// a last bucket holds what is above the last bound. The store keeps the
// counts as an array in this order, the metrics use the same bounds.
var LatencyBounds = []time.Duration{
	1 * time.Microsecond, 2 * time.Microsecond, 5 * time.Microsecond,
	10 * time.Microsecond, 20 * time.Microsecond, 50 * time.Microsecond,
	100 * time.Microsecond, 200 * time.Microsecond, 500 * time.Microsecond,
	1 * time.Millisecond, 2 * time.Millisecond, 5 * time.Millisecond,
	10 * time.Millisecond, 20 * time.Millisecond, 50 * time.Millisecond,
	100 * time.Millisecond, 1 * time.Second,
}

// Histogram counts hop latencies in LatencyBounds buckets.
type Histogram struct {
	Counts   [18]uint32 // len(LatencyBounds)+1; an interval's reports of one hop fit
	Sum, Max time.Duration
	Count    uint64
}

// Observe adds one latency.
func (h *Histogram) Observe(d time.Duration) {
	i := 0
	for i < len(LatencyBounds) && d > LatencyBounds[i] {
		i++
	}
	h.Counts[i]++
	h.Sum += d
	h.Count++
	h.Max = max(h.Max, d)
}

// Merge adds o's counts to h.
func (h *Histogram) Merge(o *Histogram) {
	for i := range h.Counts {
		h.Counts[i] += o.Counts[i]
	}
	h.Sum += o.Sum
	h.Count += o.Count
	h.Max = max(h.Max, o.Max)
}

// Quantile is the upper bound of the bucket that holds quantile q (0..1),
// never above the largest latency seen; 0 when empty.
func (h *Histogram) Quantile(q float64) time.Duration {
	if h.Count == 0 {
		return 0
	}
	rank := uint64(q*float64(h.Count) + 0.999999)
	rank = max(rank, 1)
	var seen uint64
	for i, n := range h.Counts {
		seen += uint64(n)
		if seen >= rank {
			if i < len(LatencyBounds) {
				return min(LatencyBounds[i], h.Max)
			}
			return h.Max
		}
	}
	return h.Max
}

// Mean is the average latency; 0 when empty.
func (h *Histogram) Mean() time.Duration {
	if h.Count == 0 {
		return 0
	}
	return h.Sum / time.Duration(h.Count)
}
