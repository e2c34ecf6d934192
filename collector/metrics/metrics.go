// Package metrics is podint-collector's Prometheus view, with cardinality
// bounded by construction: hop latency per (source namespace/workload,
// destination namespace/workload) up to MaxPairs pairs, drops by reason and
// node, reports and loss per source address, and the store's queue.
package metrics

import (
	"net/netip"
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/podint/podint/collector/identity"
	"github.com/podint/podint/collector/path"
	"github.com/podint/podint/collector/receive"
	"github.com/podint/podint/collector/store"
	"github.com/podint/podint/internal/intreport"
)

// MaxPairs bounds the workload pairs of the hop latency histogram; further
// pairs are counted under the workload "other".
const MaxPairs = 2000

// Source is what the metrics read from the rest of the collector.
type Source struct {
	Sources      *receive.Sources
	Queue        *store.Queue
	PathOverflow func() uint64
	PollErrors   func() uint64
	// Translations are the nodes' NATed connections the collector holds.
	Translations *identity.Translations
}

// Metrics holds the collector's registry and the metrics fed per report.
type Metrics struct {
	Registry  *prometheus.Registry
	hop       *prometheus.HistogramVec
	drops     *prometheus.CounterVec
	writeSecs prometheus.Histogram

	state *state

	mu    sync.Mutex
	pairs map[[4]string]prometheus.Observer // the pair's histogram, looked up once
	other prometheus.Observer
	// byPods finds the histogram of a pod pair without naming its
	// workloads again (Workload allocates); bounded, emptied when full.
	byPods map[[4]string]prometheus.Observer
}

// maxPodPairs bounds Metrics.byPods.
const maxPodPairs = 1 << 16

// New registers the collector's metrics.
func New(src Source) *Metrics {
	buckets := make([]float64, len(path.LatencyBounds))
	for i, b := range path.LatencyBounds {
		buckets[i] = b.Seconds()
	}
	m := &Metrics{
		Registry: prometheus.NewRegistry(),
		hop: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "podint_collector_hop_latency_seconds",
			Help:    "Hop latency of flow reports, by the workloads the flow is between (\"unknown\": the address's pod is unknown; \"other\": beyond the pair limit).",
			Buckets: buckets,
		}, []string{"src_namespace", "src_workload", "dst_namespace", "dst_workload"}),
		drops: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "podint_collector_drops_total",
			Help: "Drop reports, by INT drop reason and the node (switch) that dropped.",
		}, []string{"reason", "node"}),
		writeSecs: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "podint_collector_store_write_seconds",
			Help:    "Time to write one interval's batch to the database.",
			Buckets: prometheus.ExponentialBuckets(0.001, 4, 9),
		}),
		pairs:  map[[4]string]prometheus.Observer{},
		byPods: map[[4]string]prometheus.Observer{},
	}
	m.other = m.hop.WithLabelValues("other", "other", "other", "other")
	m.state = &state{src}
	m.Registry.MustRegister(m.hop, m.drops, m.writeSecs, m.state,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// SetQueue makes the store's queue visible (it is built after the metrics,
// which it reports its write latency to).
func (m *Metrics) SetQueue(q *store.Queue) { m.state.Queue = q }

// ObserveWrite records one store write's duration (store.NewQueue's hook).
func (m *Metrics) ObserveWrite(d time.Duration) { m.writeSecs.Observe(d.Seconds()) }

// Report records one decoded report between pods src and dst.
func (m *Metrics) Report(r *intreport.Decoded, src, dst identity.Pod) {
	if r.Kind == intreport.KindDrop {
		reason := intreport.DropReasonName(r.DropReason)
		if reason == "" {
			reason = "code " + strconv.Itoa(int(r.DropReason))
		}
		m.drops.WithLabelValues(reason, identity.SwitchIP(r.SwitchID).String()).Inc()
		return
	}
	lat, known := r.HopLatency()
	if !known {
		return // no probed ingress port timed it: not a latency of 0
	}
	pods := [4]string{src.Namespace, src.Name, dst.Namespace, dst.Name}
	m.mu.Lock()
	o, ok := m.byPods[pods]
	if !ok {
		o = m.pairObserver([4]string{ns(src), Workload(src.Name), ns(dst), Workload(dst.Name)})
		if len(m.byPods) >= maxPodPairs {
			clear(m.byPods)
		}
		m.byPods[pods] = o
	}
	m.mu.Unlock()
	o.Observe(time.Duration(lat).Seconds())
}

// pairObserver is the histogram of workload pair k; m.mu is held.
func (m *Metrics) pairObserver(k [4]string) prometheus.Observer {
	if o, ok := m.pairs[k]; ok {
		return o
	}
	if len(m.pairs) >= MaxPairs {
		return m.other
	}
	o := m.hop.WithLabelValues(k[0], k[1], k[2], k[3])
	m.pairs[k] = o
	return o
}

func ns(p identity.Pod) string {
	if !p.Known() {
		return "unknown"
	}
	return p.Namespace
}

// state exports the counters other packages keep, read at scrape time.
type state struct{ Source }

var (
	descReports   = prometheus.NewDesc("podint_collector_reports_total", "Reports received, by source address.", []string{"source"}, nil)
	descDatagrams = prometheus.NewDesc("podint_collector_datagrams_total", "Datagrams decoded, by source address.", []string{"source"}, nil)
	descLost      = prometheus.NewDesc("podint_collector_reports_lost_total", "Reports (v0.5) or datagrams (v2.0) lost by sequence gap, by source address.", []string{"source"}, nil)
	descRestarts  = prometheus.NewDesc("podint_collector_source_restarts_total", "Sequence resets: the source started over.", []string{"source"}, nil)
	descBad       = prometheus.NewDesc("podint_collector_bad_datagrams_total", "Datagrams that did not decode, by why.", []string{"why"}, nil)
	descUntracked = prometheus.NewDesc("podint_collector_untracked_datagrams_total", "Datagrams of sources beyond the tracked limit (not accounted for loss).", nil, nil)
	descDepth     = prometheus.NewDesc("podint_collector_store_queue_depth", "Batches waiting to be written.", nil, nil)
	descCap       = prometheus.NewDesc("podint_collector_store_queue_capacity", "Batches the write queue holds.", nil, nil)
	descOverflow  = prometheus.NewDesc("podint_collector_store_overflow_batches_total", "Batches dropped: the write queue was full (the database is down or slow).", nil, nil)
	descOverRep   = prometheus.NewDesc("podint_collector_store_overflow_reports_total", "Reports summarized by the batches dropped.", nil, nil)
	descWriteErr  = prometheus.NewDesc("podint_collector_store_write_errors_total", "Failed batch writes (each is retried).", nil, nil)
	descPathOver  = prometheus.NewDesc("podint_collector_path_overflow_reports_total", "Reports dropped: an interval held the maximum number of paths.", nil, nil)
	descPollErr   = prometheus.NewDesc("podint_collector_topology_poll_errors_total", "Failed reads of a node's topology.", nil, nil)
	descNAT       = prometheus.NewDesc("podint_collector_translations", "NATed connections held to name the Service of their flows.", nil, nil)
	descNATDrop   = prometheus.NewDesc("podint_collector_translations_dropped_total", "NATed connections not held because the table was full: their flows are stored without a Service.", nil, nil)
)

func (s *state) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descReports, descDatagrams, descLost, descRestarts, descBad, descUntracked,
		descDepth, descCap, descOverflow, descOverRep, descWriteErr, descPathOver, descPollErr, descNAT, descNATDrop} {
		ch <- d
	}
}

func (s *state) Collect(ch chan<- prometheus.Metric) {
	type perAddr struct{ reports, datagrams, lost, restarts uint64 }
	by := map[netip.Addr]*perAddr{}
	for _, src := range s.Sources.Snapshot() {
		a := by[src.From.Addr()]
		if a == nil {
			a = &perAddr{}
			by[src.From.Addr()] = a
		}
		a.reports += src.Reports
		a.datagrams += src.Datagrams
		a.lost += src.Lost
		a.restarts += src.Restarts
	}
	for addr, a := range by {
		l := addr.String()
		ch <- prometheus.MustNewConstMetric(descReports, prometheus.CounterValue, float64(a.reports), l)
		ch <- prometheus.MustNewConstMetric(descDatagrams, prometheus.CounterValue, float64(a.datagrams), l)
		ch <- prometheus.MustNewConstMetric(descLost, prometheus.CounterValue, float64(a.lost), l)
		ch <- prometheus.MustNewConstMetric(descRestarts, prometheus.CounterValue, float64(a.restarts), l)
	}
	t := s.Sources.Totals()
	ch <- prometheus.MustNewConstMetric(descBad, prometheus.CounterValue, float64(t.Malformed), "malformed")
	ch <- prometheus.MustNewConstMetric(descBad, prometheus.CounterValue, float64(t.UnknownVersion), "unknown_version")
	ch <- prometheus.MustNewConstMetric(descUntracked, prometheus.CounterValue, float64(t.Untracked))
	if s.Queue != nil {
		q := s.Queue.Stats()
		ch <- prometheus.MustNewConstMetric(descDepth, prometheus.GaugeValue, float64(q.Depth))
		ch <- prometheus.MustNewConstMetric(descCap, prometheus.GaugeValue, float64(q.Capacity))
		ch <- prometheus.MustNewConstMetric(descOverflow, prometheus.CounterValue, float64(q.Overflow))
		ch <- prometheus.MustNewConstMetric(descOverRep, prometheus.CounterValue, float64(q.OverflowReports))
		ch <- prometheus.MustNewConstMetric(descWriteErr, prometheus.CounterValue, float64(q.WriteErrors))
	}
	if s.PathOverflow != nil {
		ch <- prometheus.MustNewConstMetric(descPathOver, prometheus.CounterValue, float64(s.PathOverflow()))
	}
	if s.PollErrors != nil {
		ch <- prometheus.MustNewConstMetric(descPollErr, prometheus.CounterValue, float64(s.PollErrors()))
	}
	if s.Translations != nil {
		ch <- prometheus.MustNewConstMetric(descNAT, prometheus.GaugeValue, float64(s.Translations.Len()))
		ch <- prometheus.MustNewConstMetric(descNATDrop, prometheus.CounterValue, float64(s.Translations.Dropped()))
	}
}
