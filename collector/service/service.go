// Package service wires podint-collector together: the receive path feeds
// the path aggregator and the metrics; each closed interval goes to the
// store's queue; node topology is polled for pod identity; /metrics and
// /healthz are served over HTTP.
package service

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/podint/podint/collector/identity"
	"github.com/podint/podint/collector/metrics"
	"github.com/podint/podint/collector/path"
	"github.com/podint/podint/collector/receive"
	"github.com/podint/podint/collector/store"
	"github.com/podint/podint/internal/intreport"
)

// Config is podint-collector's configuration.
type Config struct {
	Receive        receive.Config
	HTTPListen     string // /metrics and /healthz; "" off
	DatabaseURL    string // PostgreSQL connection string; "" keeps nothing (metrics only)
	Interval       time.Duration
	Retention      time.Duration
	QueueBatches   int // write queue capacity, in intervals
	Topology       identity.PollerConfig
	MaxPaths       int
	SamplesPerPath int
}

// Default is the configuration without flags.
func Default() Config {
	return Config{
		Receive:      receive.Config{Listen: fmt.Sprintf(":%d", intreport.DefaultPort), Readers: 2, RcvBuf: 8 << 20, Batch: 64},
		HTTPListen:   ":9090",
		Interval:     10 * time.Second,
		Retention:    7 * 24 * time.Hour,
		QueueBatches: 64,
		Topology:     identity.PollerConfig{Port: 9765, Interval: identity.DefaultPollInterval}, // podintd's usual --http-listen port (the chart's http.port)
	}
}

// Collector is a running podint-collector.
type Collector struct {
	cfg      Config
	Sources  *receive.Sources
	Dir      *identity.Directory
	Poller   *identity.Poller
	Paths    *path.Aggregator
	Metrics  *metrics.Metrics
	Queue    *store.Queue // nil without a database
	Store    store.Store
	receiver *receive.Receiver
	http     net.Listener
}

// New opens the sockets and the database (migrating its schema); Run
// starts the work.
func New(ctx context.Context, cfg Config) (c *Collector, err error) {
	c = &Collector{cfg: cfg, Sources: receive.NewSources(), Dir: identity.NewDirectory()}
	defer func() {
		if err != nil {
			c.close()
		}
	}()
	c.Poller = identity.NewPoller(cfg.Topology, c.Dir)
	pc := path.AggregatorConfig{Interval: cfg.Interval, MaxPaths: cfg.MaxPaths, SamplesPerPath: cfg.SamplesPerPath}
	if cfg.Topology.Port != 0 { // the nodes' translations are read: give the last connections of an interval a poll
		pc.Delay = max(cfg.Topology.Interval, time.Second) + time.Second
	}
	c.Paths = path.NewAggregator(pc, c.Dir)
	if cfg.DatabaseURL != "" {
		pg, err := store.OpenPostgres(ctx, cfg.DatabaseURL)
		if err != nil {
			return nil, err
		}
		c.Store = pg
	}
	c.Metrics = metrics.New(metrics.Source{Sources: c.Sources, PathOverflow: c.Paths.Overflow, PollErrors: c.Poller.Errors,
		Translations: c.Dir.NAT})
	if c.Store != nil {
		c.Queue = store.NewQueue(c.Store, max(cfg.QueueBatches, 1), c.Metrics.ObserveWrite)
		c.Metrics.SetQueue(c.Queue)
	}
	if c.receiver, err = receive.Listen(cfg.Receive, c.handle, c.Sources); err != nil {
		return nil, err
	}
	if cfg.HTTPListen != "" {
		if c.http, err = net.Listen("tcp", cfg.HTTPListen); err != nil {
			return nil, fmt.Errorf("http-listen %s: %w", cfg.HTTPListen, err)
		}
	}
	return c, nil
}

// ReportAddr is where the collector receives reports.
func (c *Collector) ReportAddr() netip.AddrPort { return c.receiver.Addr() }

// HTTPAddr is the /metrics listener's address ("" when off).
func (c *Collector) HTTPAddr() string {
	if c.http == nil {
		return ""
	}
	return c.http.Addr().String()
}

func (c *Collector) handle(from netip.AddrPort, at time.Time, d *intreport.Datagram) {
	var saw uint32
	for i := range d.Reports {
		r := &d.Reports[i]
		if i == 0 || r.SwitchID != saw { // a v2.0 datagram is one node's
			saw = r.SwitchID
			c.Poller.Saw(r.SwitchID, from.Addr(), at)
		}
		src, dst := c.Paths.Add(at, from, d, r)
		c.Metrics.Report(r, src, dst)
	}
}

// Run works until ctx ends, then writes what it holds (the interval under
// way too: a restarted collector's rows for it merge with these).
func (c *Collector) Run(ctx context.Context) error {
	defer c.close()
	work, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan struct{})
	var workers []func()
	if c.Queue != nil {
		workers = append(workers, func() { c.Queue.Run(work, 10*time.Second) })
	}
	workers = append(workers, func() { c.Poller.Run(work) })
	if c.http != nil {
		workers = append(workers, func() { c.serveHTTP(work) })
	}
	for _, w := range workers {
		go func() { w(); done <- struct{}{} }()
	}
	recvErr := make(chan error, 1)
	go func() { recvErr <- c.receiver.Serve(ctx) }()
	slog.Info("podint-collector receiving", "reports", c.ReportAddr(), "http", c.HTTPAddr(), "database", c.Store != nil)

	// An interval is flushed within a tenth of its length after it ends:
	// the database lag is about one interval plus the write.
	tick := time.NewTicker(max(min(time.Second, c.cfg.Interval/10), 10*time.Millisecond))
	defer tick.Stop()
	lastRetain := time.Time{}
	var err error
loop:
	for {
		select {
		case <-ctx.Done():
			break loop
		case err = <-recvErr:
			break loop
		case now := <-tick.C:
			c.flush(now, false)
			if c.Store != nil && now.Sub(lastRetain) >= time.Minute {
				lastRetain = now
				go c.retain(work, now)
			}
		}
	}
	c.receiver.Close()
	if err == nil {
		err = <-recvErr
	}
	c.flush(time.Now(), true)
	cancel()
	for range workers {
		<-done
	}
	return err
}

func (c *Collector) flush(now time.Time, all bool) {
	for _, iv := range c.Paths.Flush(now, all) {
		if c.Queue != nil && (len(iv.Paths) > 0 || len(iv.Samples) > 0) {
			c.Queue.Put(&store.Batch{ID: batchID(), Interval: iv})
		}
	}
}

func (c *Collector) retain(ctx context.Context, now time.Time) {
	if c.cfg.Retention <= 0 {
		return
	}
	n, err := c.Store.Retain(ctx, now.Add(-c.cfg.Retention))
	if err != nil {
		slog.Warn("retention", "err", err)
	} else if n > 0 {
		slog.Info("retention deleted old rows", "rows", n, "older than", c.cfg.Retention)
	}
}

func batchID() string {
	b := make([]byte, 16)
	rand.Read(b)
	return hex.EncodeToString(b)
}

func (c *Collector) serveHTTP(ctx context.Context) {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(c.Metrics.Registry, promhttp.HandlerOpts{}))
	c.apiHandlers(mux)
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		// A full queue or a database down is degraded, not dead: a restart
		// would not help, so liveness stays 200.
		if c.Queue != nil {
			if st := c.Queue.Stats(); st.Depth == st.Capacity {
				fmt.Fprintln(w, "degraded: the store's write queue is full (is the database up?)")
				return
			}
		}
		fmt.Fprintln(w, "ok")
	})
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	stop := context.AfterFunc(ctx, func() { srv.Close() })
	defer stop()
	if err := srv.Serve(c.http); err != nil && !errors.Is(err, http.ErrServerClosed) {
		slog.Warn("http", "err", err)
	}
}

func (c *Collector) close() {
	if c.receiver != nil {
		c.receiver.Close()
	}
	if c.http != nil {
		c.http.Close()
	}
	if c.Store != nil {
		c.Store.Close()
	}
}
