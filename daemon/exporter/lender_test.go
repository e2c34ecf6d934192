package exporter

import (
	"sync"
	"testing"

	"github.com/podint/podint/internal/intreport"
)

// countingLender records the holds on each report still out.
type countingLender struct {
	mu    sync.Mutex
	holds map[*intreport.Report]int
	bad   []string
}

func (l *countingLender) Hold(r *intreport.Report, n int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.holds[r] += n
}

func (l *countingLender) Release(r *intreport.Report) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.holds[r] == 0 {
		l.bad = append(l.bad, "report released more often than held")
	}
	l.holds[r]--
}

func (l *countingLender) out() (reports int, bad []string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, n := range l.holds {
		if n != 0 {
			reports++
		}
	}
	return reports, l.bad
}

// Every collector holds every report it queues until it has sent it, and
// releases a report it drops at once: a lender gets each back exactly as
// often as it was held, from a collector that is up and from one that is
// down, and nothing queued is released before it is sent.
func TestReportsAreReleasedOncePerCollector(t *testing.T) {
	for _, format := range []intreport.Format{intreport.FormatV05, intreport.FormatV20} {
		t.Run(format.String(), func(t *testing.T) {
			up := listen(t, "127.0.0.1:0")
			down := listen(t, "127.0.0.1:0")
			dead := down.LocalAddr().String()
			down.Close()
			l := &countingLender{holds: map[*intreport.Report]int{}}
			gate := make(chan struct{})
			e := start(t, Config{Collectors: []string{up.LocalAddr().String(), dead}, Format: format,
				QueueLen: 10, Lender: l}, seams{gate: gate})
			for i := range 25 {
				r := report(i)
				l.Hold(r, 1) // the caller's own, as the daemon's reader holds it
				e.Send(r)
				l.Release(r)
			}
			// 10 queued for each collector, 15 dropped by each.
			if n, bad := l.out(); n != 10 || bad != nil {
				t.Fatalf("%d reports held while the senders wait (want the 10 queued), %v", n, bad)
			}
			close(gate)
			if err := e.Close(); err != nil {
				t.Fatal(err)
			}
			if n, bad := l.out(); n != 0 || bad != nil {
				t.Fatalf("%d reports still held after Close, %v", n, bad)
			}
			if s := e.Stats()[0]; s.Reports != 10 || s.QueueDrops != 15 {
				t.Fatalf("stats %+v", s)
			}
		})
	}
}
