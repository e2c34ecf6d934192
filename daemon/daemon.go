// Package daemon wires podintd together: it loads and pins the probes,
// drains their ring buffer into INT reports for the collectors, and serves
// the API through which the CNI plugin registers probes.
package daemon

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"

	"golang.org/x/sync/errgroup"

	"github.com/podint/podint/bpf"
	"github.com/podint/podint/daemon/api"
	"github.com/podint/podint/daemon/config"
	"github.com/podint/podint/daemon/events"
	"github.com/podint/podint/daemon/exporter"
	"github.com/podint/podint/daemon/instance"
	"github.com/podint/podint/daemon/intreport"
	"github.com/podint/podint/daemon/topology"
	"github.com/podint/podint/daemon/watchlist"
	podintv1 "github.com/podint/podint/proto/podint/v1"
)

// Daemon is one running podintd.
type Daemon struct {
	cfg      config.Config
	paths    instance.Paths
	log      *slog.Logger
	switchID uint32
	probes   *bpf.Probes
	store    *topology.Store
	exporter *exporter.Exporter
	reader   *events.Reader
	watcher  *watchlist.Watcher
}

// New loads the probes and prepares every part; Run starts them.
func New(cfg config.Config, log *slog.Logger) (*Daemon, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("invalid configuration: %w", err)
	}
	sw, err := cfg.SwitchIDValue()
	if err != nil {
		return nil, err
	}
	format, _ := intreport.ParseFormat(cfg.ReportFormat)
	d := &Daemon{cfg: cfg, paths: instance.New(cfg.Root), log: log,
		switchID: binary.BigEndian.Uint32(sw.AsSlice())}

	settings := bpf.DefaultSettings
	settings.ReportInterval = cfg.ReportInterval
	settings.LatencyQuantum = cfg.LatencyQuantum
	if d.probes, err = bpf.Load(d.paths.PinDir, settings); err != nil {
		return nil, err
	}
	if err := d.probes.AttachDrops(); err != nil {
		log.Warn("drop reports disabled", "err", err)
	}
	node := &podintv1.Node{Name: cfg.NodeName, SwitchId: d.switchID, SwitchIp: sw.String()}
	if d.store, err = topology.NewStore(filepath.Join(d.paths.StateDir, "probes"), node); err != nil {
		d.probes.Close()
		return nil, err
	}
	for _, p := range d.store.Probes() {
		_ = d.probes.AddPort(int(p.GetIfindex()))
	}
	uplinks, err := uplinkNames(cfg)
	if err != nil {
		log.Warn("no uplink probed", "err", err)
	}
	if err := d.attachUplinks(uplinks); err != nil {
		d.probes.Close()
		return nil, err
	}
	if cfg.Watchlist != "" {
		if d.watcher, err = watchlist.NewWatcher(cfg.Watchlist, d.probes.SetWatchlist, log.With("component", "watchlist")); err != nil {
			d.probes.Close()
			return nil, err
		}
	} else if err := d.probes.SetWatchlist(nil); err != nil {
		d.probes.Close()
		return nil, err
	}
	d.exporter, err = exporter.New(exporter.Config{
		Collectors: cfg.Collectors,
		Format:     format,
		HwID:       exporter.HwID(cfg.NodeName),
		SnapLen:    cfg.SnapLen,
	}, log.With("component", "exporter"))
	if err != nil {
		d.probes.Close()
		return nil, err
	}
	if d.reader, err = events.NewReader(d.probes.Events(), log); err != nil {
		d.exporter.Close()
		d.probes.Close()
		return nil, err
	}
	return d, nil
}

// Run serves until ctx ends. Probes stay attached when it returns: they
// belong to the pods, and keep counting while the daemon is away.
func (d *Daemon) Run(ctx context.Context) error {
	defer d.probes.Close()
	l, err := api.Listen(d.paths.Socket)
	if err != nil {
		return err
	}
	srv := api.NewServer(d.store, api.Hooks{
		Stats:        d.Stats,
		Registered:   func(p *podintv1.Probe) { _ = d.probes.AddPort(int(p.GetIfindex())) },
		Unregistered: func(p *podintv1.Probe) { _ = d.probes.RemovePort(int(p.GetIfindex())) },
	}, d.log.With("component", "api"))
	d.log.Info("podintd running", "root", d.paths.Root, "socket", d.paths.Socket,
		"switch_id", d.store.Topology().GetNode().GetSwitchIp(), "collectors", d.cfg.Collectors,
		"format", d.cfg.ReportFormat)

	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error { return api.Serve(gctx, l, srv) })
	if d.watcher != nil {
		g.Go(func() error { return d.watcher.Run(gctx) })
	}
	g.Go(func() error {
		return d.reader.Run(gctx, func(ev *bpf.Event) {
			r := events.ToReport(ev, d.switchID)
			d.exporter.Send(&r)
		})
	})
	err = g.Wait()
	// Flush what is queued for the collectors before exiting.
	if cerr := d.exporter.Close(); cerr != nil {
		d.log.Warn("flush reports on exit", "err", cerr)
	}
	if errors.Is(err, context.Canceled) {
		err = nil
	}
	return err
}

// Stats returns every counter of the pipeline, loss counters included.
func (d *Daemon) Stats() []*podintv1.Counter {
	var out []*podintv1.Counter
	add := func(name, help string, v uint64, labels map[string]string) {
		out = append(out, &podintv1.Counter{Name: name, Help: help, Value: v, Labels: labels})
	}
	if kc, err := d.probes.Counters(); err == nil {
		for i, v := range kc {
			add("kernel_"+bpf.CounterNames[i], "probe counter "+bpf.CounterNames[i], v, nil)
		}
	}
	add("events_received", "events read from the ring buffer", d.reader.Received(), nil)
	add("events_malformed", "ring buffer records dropped as undecodable", d.reader.Malformed(), nil)
	if d.watcher != nil {
		add("watchlist_reloads", "watchlist changes put in force", d.watcher.Reloads(), nil)
		add("watchlist_rejected", "watchlist changes rejected for an error", d.watcher.Rejected(), nil)
	}
	for _, s := range d.exporter.Stats() {
		lbl := map[string]string{"collector": s.Collector}
		add("reports_sent", "reports sent to the collector", s.Reports, lbl)
		add("datagrams_sent", "datagrams sent to the collector", s.Datagrams, lbl)
		add("datagram_send_errors", "datagrams (with their reports) lost to send errors", s.SendErrors, lbl)
		add("reports_dropped_queue_full", "reports lost because the send queue was full", s.QueueDrops, lbl)
	}
	return out
}
