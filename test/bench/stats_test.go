package main

import (
	"math"
	"testing"
	"time"
)

func TestSummarizeTakesTheMiddleOfUnsortedSamples(t *testing.T) {
	s := summarize([]float64{9, 1, 5, 3, 7})
	if s.median != 5 || s.min != 1 || s.max != 9 || s.n != 5 {
		t.Fatalf("got %+v, want median 5 in [1, 9] of 5", s)
	}
	if m := summarize([]float64{4, 1, 3, 2}).median; m != 2.5 {
		t.Fatalf("median of an even count %v, want 2.5", m)
	}
	if m := summarize(nil).median; !math.IsNaN(m) {
		t.Fatalf("median of nothing %v, want NaN", m)
	}
}

func TestPercentileIsNearestRank(t *testing.T) {
	xs := make([]float64, 100)
	for i := range xs {
		xs[i] = float64(100 - i) // 100..1, unsorted
	}
	for p, want := range map[float64]float64{50: 50, 99: 99, 100: 100, 1: 1} {
		if got := percentile(xs, p); got != want {
			t.Errorf("p%v = %v, want %v", p, got, want)
		}
	}
	if got := percentile([]float64{3, 1, 2}, 99); got != 3 {
		t.Errorf("p99 of 3 samples = %v, want the largest", got)
	}
}

// pipelineAt simulates a daemon that loses reports above capacity.
func pipelineAt(capacity float64, calls *[]float64) func(float64) (stepResult, error) {
	return func(rate float64) (stepResult, error) {
		*calls = append(*calls, rate)
		r := stepResult{offered: rate, achieved: rate, events: uint64(rate)}
		if rate > capacity {
			r.lost = uint64(rate - capacity)
		}
		return r, nil
	}
}

func TestFindKneeBracketsTheCapacity(t *testing.T) {
	var calls []float64
	knee, beyond, err := findKnee(50e3, 3.2e6, 5, pipelineAt(260e3, &calls))
	if err != nil {
		t.Fatal(err)
	}
	if knee == nil || beyond == nil {
		t.Fatalf("knee %v beyond %v: want both", knee, beyond)
	}
	if knee.achieved > 260e3 || knee.achieved < 260e3-200e3/32 {
		t.Errorf("knee %v, want within one bisection step below 260k", knee.achieved)
	}
	if beyond.offered <= 260e3 || beyond.offered > 260e3+200e3/32 {
		t.Errorf("first lossy rate %v, want just above 260k", beyond.offered)
	}
	if len(calls) != 4+5 { // 50k 100k 200k 400k, then five bisections
		t.Errorf("%d steps (%v), want 9", len(calls), calls)
	}
}

func TestFindKneeWithoutLossReportsTheHighestRate(t *testing.T) {
	var calls []float64
	knee, beyond, err := findKnee(50e3, 400e3, 3, pipelineAt(1e9, &calls))
	if err != nil {
		t.Fatal(err)
	}
	if beyond != nil || knee == nil || knee.achieved != 400e3 {
		t.Fatalf("knee %+v beyond %+v: want 400k and no lossy step", knee, beyond)
	}
}

func TestFindKneeWhenTheFirstStepLoses(t *testing.T) {
	var calls []float64
	knee, beyond, err := findKnee(50e3, 3.2e6, 2, pipelineAt(10e3, &calls))
	if err != nil {
		t.Fatal(err)
	}
	if beyond == nil || beyond.offered != 12.5e3 {
		t.Fatalf("beyond %+v, want the lowest lossy rate 12.5k", beyond)
	}
	if knee != nil {
		t.Fatalf("knee %+v, want none: every step lost reports", knee)
	}
}

func TestPerIntervalCountsBurstsAndSkipsShortFlows(t *testing.T) {
	t0 := time.Unix(1000, 0)
	at := func(ds ...time.Duration) []time.Time {
		var out []time.Time
		for _, d := range ds {
			out = append(out, t0.Add(d))
		}
		return out
	}
	s := time.Second
	// new flow, one report per second for 10 s, FIN: one per interval.
	steady := at(0, s, 2*s, 3*s, 4*s, 5*s, 6*s, 7*s, 8*s, 9*s, 10*s, 10*s+time.Millisecond)
	if v, ok := perInterval(steady); !ok || v < 0.9 || v > 1.0 {
		t.Errorf("steady flow: %v per interval (ok %v), want just under 1", v, ok)
	}
	// the same with a burst of five reports in one millisecond at 5 s.
	burst := append(steady, at(5*s+1, 5*s+2, 5*s+3, 5*s+4, 5*s+5)...)
	if v, _ := perInterval(burst); v < 1.3 {
		t.Errorf("flow with a burst: %v per interval, want the burst counted", v)
	}
	if _, ok := perInterval(at(0, time.Millisecond, 2*time.Millisecond, s)); ok {
		t.Error("a flow of one second was judged; want it skipped")
	}
}
