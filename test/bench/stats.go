package main

import (
	"math"
	"slices"
	"time"
)

// summary is the median and range of repeated measurements: the median is
// the figure, min and max show how noisy the machine was.
type summary struct {
	median, min, max float64
	n                int
}

func summarize(xs []float64) summary {
	if len(xs) == 0 {
		return summary{median: math.NaN(), min: math.NaN(), max: math.NaN()}
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	m := s[len(s)/2]
	if len(s)%2 == 0 {
		m = (s[len(s)/2-1] + s[len(s)/2]) / 2
	}
	return summary{median: m, min: s[0], max: s[len(s)-1], n: len(s)}
}

// percentile is the nearest-rank p-th percentile (0 < p <= 100): the
// smallest sample that at least p% of the samples do not exceed.
func percentile(xs []float64, p float64) float64 {
	if len(xs) == 0 {
		return math.NaN()
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	i := int(math.Ceil(p/100*float64(len(s)))) - 1
	return s[max(0, min(i, len(s)-1))]
}

// stepResult is one rate step of the daemon pipeline benchmark.
type stepResult struct {
	offered  float64 // events/s asked of the producer
	achieved float64 // events/s the probes wrote or tried to write
	events   uint64  // events the step produced, lost ones included
	lost     uint64  // of those, reports that never reached the collector
	where    string  // where the lost ones went, from the loss counters
	// cpu is podintd's CPU time over the step and its drain, softirq its
	// core's softirq time (loopback delivery, charged to no process).
	cpu, softirq time.Duration
}

func (s stepResult) lossless() bool { return s.events > 0 && s.lost == 0 }

// findKnee doubles the offered rate from start until a step loses reports
// or max is passed, then bisects between the last lossless and the first
// lossy rate. knee is the lossless step with the highest achieved rate (nil
// if none); beyond is the lossy step of the lowest offered rate (nil if no
// step lost anything).
func findKnee(start, max float64, bisections int, step func(rate float64) (stepResult, error)) (knee, beyond *stepResult, err error) {
	var results []stepResult
	try := func(rate float64) (stepResult, error) {
		r, err := step(rate)
		if err == nil {
			results = append(results, r)
		}
		return r, err
	}
	lo, hi := 0.0, 0.0
	for rate := start; rate <= max; rate *= 2 {
		r, err := try(rate)
		if err != nil {
			return nil, nil, err
		}
		if !r.lossless() {
			hi = rate
			break
		}
		lo = rate
	}
	for i := 0; hi > 0 && i < bisections; i++ {
		mid := (lo + hi) / 2
		if lo == 0 {
			mid = hi / 2
		}
		r, err := try(mid)
		if err != nil {
			return nil, nil, err
		}
		if r.lossless() {
			lo = mid
		} else {
			hi = mid
		}
	}
	for i := range results {
		r := &results[i]
		if r.lossless() && (knee == nil || r.achieved > knee.achieved) {
			knee = r
		}
		if !r.lossless() && (beyond == nil || r.offered < beyond.offered) {
			beyond = r
		}
	}
	return knee, beyond, nil
}
