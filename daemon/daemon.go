// Package daemon wires podintd together: it loads and pins the probes,
// adopts those an earlier daemon left running, drains their ring buffer into
// INT reports for the collectors, and serves the API through which the CNI
// plugin registers probes and operators watch the node.
package daemon

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"sync/atomic"

	"golang.org/x/sync/errgroup"

	"github.com/podint/podint/bpf"
	"github.com/podint/podint/daemon/api"
	"github.com/podint/podint/daemon/config"
	"github.com/podint/podint/daemon/events"
	"github.com/podint/podint/daemon/exporter"
	"github.com/podint/podint/daemon/registry"
	"github.com/podint/podint/daemon/reports"
	"github.com/podint/podint/daemon/translations"
	"github.com/podint/podint/daemon/watchlist"
	"github.com/podint/podint/internal/bpffs"
	"github.com/podint/podint/internal/instance"
	"github.com/podint/podint/internal/intreport"
	podintv1 "github.com/podint/podint/proto/podint/v1"
)

// Options are what podintd's main gives the daemon besides its settings.
type Options struct {
	Log *slog.Logger
	// Level is the logger's level, changed when a reloaded configuration
	// changes log-level; nil keeps it.
	Level *slog.LevelVar
	// Reload reads the configuration again (on a change of the --config
	// file); nil disables reloading.
	Reload func() (config.Config, error)
}

// Daemon is one running podintd.
type Daemon struct {
	cfg        config.Config
	opts       Options
	paths      instance.Paths
	log        *slog.Logger
	switchID   uint32
	collection *bpf.Collection
	store      *registry.Store
	exporter   *exporter.Exporter
	reader     *events.Reader
	builder    *events.Builder // the reader's goroutine's
	watcher    *watchlist.Watcher
	hub        *reports.Hub
	nat        *translations.Table // recent NATed connections, for the collector
	stats      io.Closer           // BPF run time statistics, while --bpf-stats holds them on

	reconciled    reconcileCounts
	migrated      migrationCounts
	vanished      atomic.Uint64 // pod probes removed because their veth went without a DEL (vanished.go)
	configReloads atomic.Uint64
	configRejects atomic.Uint64
}

// New loads the probes, adopts what an earlier daemon left pinned, and
// prepares every part; Run starts them.
func New(cfg config.Config, opts Options) (d *Daemon, err error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("invalid configuration: %w", err)
	}
	if opts.Log == nil {
		opts.Log = slog.New(slog.DiscardHandler)
	}
	log := opts.Log
	sw, err := switchID(cfg)
	if err != nil {
		return nil, err
	}
	format, _ := intreport.ParseFormat(cfg.ReportFormat)
	d = &Daemon{cfg: cfg, opts: opts, paths: instance.New(cfg.Root), log: log,
		switchID: binary.BigEndian.Uint32(sw.AsSlice()), hub: reports.NewHub(0),
		nat: translations.New(0, 0)}
	d.builder = events.NewBuilder(d.switchID)

	settings := bpf.DefaultSettings
	settings.ReportInterval = cfg.ReportInterval
	settings.LatencyQuantum = cfg.LatencyQuantum
	settings.SnapLen = cfg.SnapLen
	dropPolicy, err := bpf.ResolveDropPolicy(cfg.DropReasons)
	if errors.Is(err, bpf.ErrNoKernelDropReasons) {
		log.Warn("drop-reasons not applied: every drop is reported", "err", err)
	} else if err != nil {
		return nil, fmt.Errorf("drop-reasons: %w", err)
	}
	if on, err := bpffs.Ensure(d.paths.PinDir); err != nil {
		return nil, err
	} else if on != "" {
		log.Info("mounted a bpffs: none was mounted where the probes are pinned", "dir", on)
	}
	if d.collection, err = bpf.Load(d.paths.PinDir, settings); err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			d.close()
		}
	}()
	d.logMigration()
	if err := d.collection.SetDropPolicy(dropPolicy); err != nil {
		return nil, fmt.Errorf("drop-reasons: %w", err)
	}
	log.Info("drop reports", "not_reported", dropPolicy.Describe())
	if cfg.BPFStats {
		if d.stats, err = bpf.EnableStats(); err != nil {
			return nil, fmt.Errorf("bpf-stats: %w", err)
		}
	}
	if err := d.collection.AttachDrops(); err != nil {
		log.Warn("drop reports disabled", "err", err)
	}
	node := &podintv1.Node{Name: cfg.NodeName, SwitchId: d.switchID, SwitchIp: sw.String()}
	if err := d.collection.AttachCPUPort(); err != nil {
		log.Warn("no CPU port: traffic to and from the node itself is reported without it", "err", err)
	} else {
		node.CpuPort = bpf.CPUPort
	}
	if d.store, err = registry.NewStore(filepath.Join(d.paths.StateDir, "probes"), node); err != nil {
		return nil, err
	}
	uplinks, err := uplinkNames(cfg)
	if err != nil {
		log.Warn("no uplink probed", "err", err)
	}
	if err := d.attachUplinks(uplinks); err != nil {
		return nil, err
	}
	// Before the reader starts: every port is known again, every hook runs
	// this daemon's programs, and nothing is pinned for a veth that is gone.
	d.reconcile(uplinks)
	if cfg.Watchlist != "" {
		if d.watcher, err = watchlist.NewWatcher(cfg.Watchlist, d.collection.SetWatchlist, log.With("component", "watchlist")); err != nil {
			return nil, err
		}
	} else if err := d.collection.SetWatchlist(nil); err != nil {
		return nil, err
	}
	d.exporter, err = exporter.New(exporter.Config{
		Collectors: cfg.Collectors,
		Format:     format,
		HwID:       exporter.HwID(cfg.NodeName),
		SnapLen:    cfg.SnapLen,
		Lender:     d.builder,
	}, log.With("component", "exporter"))
	if err != nil {
		return nil, err
	}
	if d.reader, err = events.NewReader(d.collection.Events(), log); err != nil {
		return nil, err
	}
	return d, nil
}

// close releases what New acquired, leaving pinned probes in place.
func (d *Daemon) close() {
	if d.watcher != nil {
		d.watcher.Close()
	}
	if d.exporter != nil {
		_ = d.exporter.Close()
	}
	if d.reader != nil {
		_ = d.reader.Close()
	}
	if d.stats != nil {
		_ = d.stats.Close()
	}
	_ = d.collection.Close()
}

// Run serves until ctx ends. Then it stops reading (what is left in the
// ring buffer waits for the next daemon), sends what is queued for the
// collectors, and leaves the probes attached: they belong to the pods and
// keep recording while the daemon is away. With --detach-on-exit it
// removes them instead.
func (d *Daemon) Run(ctx context.Context) error {
	l, err := d.listen()
	if err != nil {
		d.close()
		return err
	}
	srv := api.NewServer(d.store, d.hub, api.Hooks{
		Verify:       d.verify,
		Registered:   d.registered,
		Unregistered: d.unregistered,
		Stats:        d.Stats,
		Health:       d.Health,
	}, d.log.With("component", "api"))
	httpSrv, err := d.httpServer()
	if err != nil {
		l.Close()
		d.close()
		return err
	}
	pprofL, err := d.pprofListener()
	if err != nil {
		if httpSrv != nil {
			httpSrv.l.Close()
		}
		l.Close()
		d.close()
		return err
	}
	d.log.Info("podintd running", "root", d.paths.Root, "socket", l.Addr().String(),
		"switch_id", d.store.Topology().GetNode().GetSwitchIp(), "collectors", d.cfg.Collectors,
		"format", d.cfg.ReportFormat, "probes", len(d.store.Probes()), "http", d.cfg.HTTPListen)

	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error { return api.Serve(gctx, l, srv) })
	if httpSrv != nil {
		g.Go(func() error { return httpSrv.run(gctx) })
	}
	if pprofL != nil {
		g.Go(func() error { return servePprof(gctx, pprofL) })
	}
	if d.watcher != nil {
		g.Go(func() error { return d.watcher.Run(gctx) })
	}
	if d.opts.Reload != nil && d.cfg.ConfigFile != "" {
		g.Go(func() error { return d.watchConfig(gctx) })
	}
	g.Go(func() error {
		d.drainReplacedEvents()
		// A reader that fails leaves nothing worth serving: podintd exits
		// non-zero so that its supervisor (kubelet, systemd) restarts it;
		// the pinned ring buffer keeps what was not read.
		if err := d.reader.Run(gctx, d.deliver); err != nil {
			return fmt.Errorf("ring buffer reader stopped, podintd exits to be restarted (unread events stay in the pinned ring buffer): %w", err)
		}
		return nil
	})
	g.Go(func() error { return d.notifySystemd(gctx) })
	g.Go(func() error { return d.watchVanished(gctx) })
	err = g.Wait()
	d.log.Info("podintd stopping", "reason", context.Cause(gctx))
	// Flush what is queued for the collectors before exiting.
	if cerr := d.exporter.Close(); cerr != nil {
		d.log.Warn("flush reports on exit", "err", cerr)
	}
	if d.cfg.DetachOnExit {
		d.detachAll()
	}
	if d.stats != nil {
		_ = d.stats.Close()
	}
	_ = d.collection.Close()
	if errors.Is(err, context.Canceled) {
		err = nil
	}
	return err
}

// deliver turns one probe event into a report for the collectors and the
// live subscribers. It runs for every event: keep it allocation-light.
func (d *Daemon) deliver(ev *bpf.Event) {
	r := d.builder.Build(ev)
	d.hub.Publish(ev, r)
	d.nat.Observe(ev, r.Flow)
	d.exporter.Send(r)
	d.builder.Release(r) // the exporter holds it while it needs it
}
