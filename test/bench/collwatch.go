package main

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/podint/podint/test/harness"
)

// lagFigures is the database lag of a step's reports: from when a report
// was sent to when its interval's rows were visible, weighted by reports.
type lagFigures struct {
	rate     float64 // reports/s of the run
	p50, p99 time.Duration
	missing  int // intervals never seen in the database within the wait
	// the store's writes during the run, from the collector's metrics
	writes        int
	writeMean     time.Duration
	pgCPUPerWrite time.Duration // PostgreSQL's CPU time per write
}

// lagWatch polls write_batches (one row per batch, committed with the
// batch's rows) and remembers when each interval first became visible.
type lagWatch struct {
	interval time.Duration
	since    time.Time
	conn     *pgx.Conn
	cancel   context.CancelFunc
	done     chan struct{}

	mu      sync.Mutex
	visible map[time.Time]time.Time // interval start → first seen
	sends   []sendMark
}

type sendMark struct {
	at time.Time
	n  uint64
}

func watchBatches(ctx context.Context, pg *harness.Postgres, since time.Time) (*lagWatch, error) {
	conn, err := pgx.Connect(ctx, pg.DSN())
	if err != nil {
		return nil, fmt.Errorf("lag watch: %w", err)
	}
	ctx, cancel := context.WithCancel(ctx)
	w := &lagWatch{since: since, conn: conn, cancel: cancel, done: make(chan struct{}), visible: map[time.Time]time.Time{}}
	go w.poll(ctx)
	return w, nil
}

func (w *lagWatch) poll(ctx context.Context) {
	defer close(w.done)
	t := time.NewTicker(20 * time.Millisecond)
	defer t.Stop()
	for {
		rows, err := w.conn.Query(ctx, "SELECT DISTINCT interval_start FROM write_batches WHERE interval_start >= $1", w.since)
		if err == nil {
			now := time.Now()
			var starts []time.Time
			for rows.Next() {
				var s time.Time
				if rows.Scan(&s) == nil {
					starts = append(starts, s)
				}
			}
			rows.Close()
			w.mu.Lock()
			for _, s := range starts {
				if _, ok := w.visible[s]; !ok {
					w.visible[s] = now
				}
			}
			w.mu.Unlock()
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// sent records n reports sent at at (replay's hook).
func (w *lagWatch) sent(at time.Time, n uint64) {
	w.mu.Lock()
	w.sends = append(w.sends, sendMark{at, n})
	w.mu.Unlock()
}

// wait waits until every interval a report was sent in is visible (or
// timeout), then computes the lag, an interval's reports all becoming
// visible when its batch commits.
func (w *lagWatch) wait(interval time.Duration, timeout time.Duration) lagFigures {
	deadline := time.Now().Add(timeout)
	for {
		w.mu.Lock()
		missing := 0
		for _, s := range w.sends {
			if _, ok := w.visible[s.at.Truncate(interval)]; !ok {
				missing++
				break
			}
		}
		w.mu.Unlock()
		if missing == 0 || time.Now().After(deadline) {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	var lags []float64
	var weights []uint64
	var total uint64
	missingIv := map[time.Time]bool{}
	for _, s := range w.sends {
		v, ok := w.visible[s.at.Truncate(interval)]
		if !ok {
			missingIv[s.at.Truncate(interval)] = true
			v = deadline // at least this late
		}
		lags = append(lags, v.Sub(s.at).Seconds())
		weights = append(weights, s.n)
		total += s.n
	}
	return lagFigures{p50: weightedPercentile(lags, weights, total, 50), p99: weightedPercentile(lags, weights, total, 99), missing: len(missingIv)}
}

func (w *lagWatch) stop() {
	w.cancel()
	<-w.done
	w.conn.Close(context.Background())
}

// weightedPercentile is the nearest-rank p-th percentile of xs, each
// counted weights[i] times.
func weightedPercentile(xs []float64, weights []uint64, total uint64, p float64) time.Duration {
	if total == 0 {
		return 0
	}
	idx := make([]int, len(xs))
	for i := range idx {
		idx[i] = i
	}
	sort.Slice(idx, func(a, b int) bool { return xs[idx[a]] < xs[idx[b]] })
	rank := uint64(p/100*float64(total) + 0.999999)
	var seen uint64
	for _, i := range idx {
		seen += weights[i]
		if seen >= rank {
			return time.Duration(xs[i] * float64(time.Second))
		}
	}
	return time.Duration(xs[idx[len(idx)-1]] * float64(time.Second))
}

// scrape reads the collector's /metrics, each metric summed over its labels.
func scrape(c *harness.ClusterCollector) (map[string]float64, error) {
	body, err := c.Get("/metrics")
	if err != nil {
		return nil, err
	}
	out := map[string]float64{}
	for _, l := range strings.Split(body, "\n") {
		if l == "" || l[0] == '#' {
			continue
		}
		name, rest, ok := strings.Cut(l, " ")
		if i := strings.IndexByte(l, '{'); i >= 0 {
			j := strings.LastIndexByte(l, '}')
			name, rest, ok = l[:i], strings.TrimSpace(l[j+1:]), j > i
		}
		if !ok {
			continue
		}
		if v, err := strconv.ParseFloat(strings.Fields(rest)[0], 64); err == nil {
			out[name] += v
		}
	}
	return out, nil
}

// udpDrops is what the kernel dropped at the sockets bound to addr's port
// in ns (full receive buffers), summed over the SO_REUSEPORT sockets.
func udpDrops(ns *harness.NetNS, addr string) (uint64, error) {
	_, port, _ := strings.Cut(addr, ":")
	p, _ := strconv.Atoi(port)
	want := fmt.Sprintf(":%04X", p)
	var drops uint64
	err := ns.Do(func() error {
		f, err := os.Open("/proc/thread-self/net/udp")
		if err != nil {
			return err
		}
		defer f.Close()
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			fields := strings.Fields(sc.Text())
			if len(fields) < 13 || !strings.HasSuffix(fields[1], want) {
				continue
			}
			n, err := strconv.ParseUint(fields[len(fields)-1], 10, 64)
			if err != nil {
				return err
			}
			drops += n
		}
		return sc.Err()
	})
	return drops, err
}

// pinPostgres moves the private server's processes (and so the backends
// it forks later) off the collector's CPU.
func pinPostgres(pg *harness.Postgres) error {
	var others []string
	for c := range daemonCPU() {
		others = append(others, strconv.Itoa(c))
	}
	pids := postgresPIDs(pg)
	if len(pids) == 0 {
		return fmt.Errorf("no PostgreSQL processes found")
	}
	for _, p := range pids {
		if err := runCmd("taskset", "-a", "-p", "-c", strings.Join(others, ","), p); err != nil {
			return fmt.Errorf("pin PostgreSQL (pid %s): %w", p, err)
		}
	}
	return nil
}

// cpuTime is the user + system time process pid used so far.
func cpuTime(pid int) time.Duration {
	b, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "stat"))
	if err != nil {
		return 0
	}
	i := strings.LastIndexByte(string(b), ')')
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 13 {
		return 0
	}
	// After "pid (comm)": state is field 3, utime 14 and stime 15, in clock
	// ticks (USER_HZ, 100 on Linux).
	ut, _ := strconv.ParseUint(f[11], 10, 64)
	st, _ := strconv.ParseUint(f[12], 10, 64)
	return time.Duration(ut+st) * 10 * time.Millisecond
}

// postgresCPU is the CPU time of the server's processes alive now.
func postgresCPU(pg *harness.Postgres) time.Duration {
	var total time.Duration
	for _, pid := range postgresPIDs(pg) {
		p, _ := strconv.Atoi(pid)
		total += cpuTime(p)
	}
	return total
}

func us(d time.Duration) float64 { return float64(d) / float64(time.Microsecond) }

// postgresPIDs is the postmaster and its children.
func postgresPIDs(pg *harness.Postgres) []string {
	b, err := os.ReadFile(filepath.Join(pg.Dir, "data", "postmaster.pid"))
	if err != nil {
		return nil
	}
	pid := strings.TrimSpace(strings.SplitN(string(b), "\n", 2)[0])
	pids := []string{pid}
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		st, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
		if err != nil {
			continue
		}
		// pid (comm) state ppid ...
		if f := strings.Fields(string(st[strings.LastIndexByte(string(st), ')')+1:])); len(f) > 1 && f[1] == pid {
			pids = append(pids, e.Name())
		}
	}
	return pids
}
