// Package metrics exports the daemon's counters to Prometheus. It reads the
// same counters as the API's Stats, through one function, so the two never
// disagree; it adds the Go runtime's and the process's own metrics.
package metrics

import (
	"sort"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	podintv1 "github.com/podint/podint/proto/podint/v1"
)

// Namespace prefixes every podint metric.
const Namespace = "podint"

// NewRegistry returns a registry exporting what stats returns at each
// scrape: a counter as podint_<name>_total, a gauge as podint_<name>, with
// its labels.
func NewRegistry(stats func() []*podintv1.Counter) *prometheus.Registry {
	r := prometheus.NewRegistry()
	r.MustRegister(statsCollector(stats),
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{Namespace: Namespace}))
	return r
}

type statsCollector func() []*podintv1.Counter

// Describe sends nothing: the set of metrics follows the configuration
// (collectors come and go), so the collector is an unchecked one.
func (statsCollector) Describe(chan<- *prometheus.Desc) {}

func (s statsCollector) Collect(ch chan<- prometheus.Metric) {
	for _, c := range s() {
		name, kind := Name(c), prometheus.CounterValue
		if c.GetGauge() {
			kind = prometheus.GaugeValue
		}
		keys := make([]string, 0, len(c.GetLabels()))
		for k := range c.GetLabels() {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		values := make([]string, len(keys))
		for i, k := range keys {
			values[i] = c.GetLabels()[k]
		}
		desc := prometheus.NewDesc(name, c.GetHelp(), keys, nil)
		m, err := prometheus.NewConstMetric(desc, kind, float64(c.GetValue()), values...)
		if err != nil {
			m = prometheus.NewInvalidMetric(desc, err)
		}
		ch <- m
	}
}

// Name is the Prometheus name of a counter of Stats.
func Name(c *podintv1.Counter) string {
	if c.GetGauge() {
		return Namespace + "_" + c.GetName()
	}
	return Namespace + "_" + c.GetName() + "_total"
}
