package daemon

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"reflect"
	"slices"

	"github.com/podint/podint/bpf"
	"github.com/podint/podint/daemon/config"
	"github.com/podint/podint/daemon/filewatch"
)

// watchConfig reloads the --config file when it changes (its directory is
// watched, to follow a ConfigMap's symlink swap) and applies what can
// change while running.
func (d *Daemon) watchConfig(ctx context.Context) error {
	w, err := filewatch.New(d.cfg.ConfigFile)
	if err != nil {
		return fmt.Errorf("config: %w", err)
	}
	return w.Run(ctx, d.reloadConfig, d.log.With("file", d.cfg.ConfigFile))
}

// reloadConfig reads the configuration again and applies the settings that
// change without a restart: collectors, report-interval, latency-quantum,
// drop-reasons, log-level. A configuration with an error is rejected as a
// whole; the one in force stays.
func (d *Daemon) reloadConfig() {
	next, err := d.opts.Reload()
	if err != nil {
		d.configRejects.Add(1)
		d.log.Error("configuration change rejected; the settings in force stay", "file", d.cfg.ConfigFile, "err", err)
		return
	}
	cur := d.cfg
	if reflect.DeepEqual(cur, next) {
		return
	}
	// Drop reason names are checked against the kernel, which Reload
	// cannot do: a name this kernel lacks rejects the change as a whole.
	var dropPolicy bpf.DropPolicy
	if !slices.Equal(cur.DropReasons, next.DropReasons) {
		dropPolicy, err = bpf.ResolveDropPolicy(next.DropReasons)
		if err != nil && !errors.Is(err, bpf.ErrNoKernelDropReasons) { // without them, every drop is reported, as at start
			d.configRejects.Add(1)
			d.log.Error("configuration change rejected; the settings in force stay", "file", d.cfg.ConfigFile, "err", fmt.Errorf("drop-reasons: %w", err))
			return
		}
	}
	var applied []string
	if !slices.Equal(cur.Collectors, next.Collectors) {
		if err := d.exporter.SetCollectors(next.Collectors); err != nil {
			d.configRejects.Add(1)
			d.log.Error("configuration change rejected: collector", "err", err)
			return
		}
		applied = append(applied, "collector")
	}
	if cur.ReportInterval != next.ReportInterval || cur.LatencyQuantum != next.LatencyQuantum {
		s := bpf.DefaultSettings
		s.ReportInterval, s.LatencyQuantum = next.ReportInterval, next.LatencyQuantum
		s.SnapLen = cur.SnapLen // needs a restart, with the exporter's
		if err := d.collection.SetSettings(s); err != nil {
			d.log.Error("report-interval and latency-quantum not applied", "err", err)
			next.ReportInterval, next.LatencyQuantum = cur.ReportInterval, cur.LatencyQuantum
		} else {
			applied = append(applied, "report-interval", "latency-quantum")
		}
	}
	if !slices.Equal(cur.DropReasons, next.DropReasons) {
		if err := d.collection.SetDropPolicy(dropPolicy); err != nil {
			d.log.Error("drop-reasons not applied", "err", err)
			next.DropReasons = cur.DropReasons
		} else {
			applied = append(applied, "drop-reasons")
			d.log.Info("drop reports", "not_reported", dropPolicy.Describe())
		}
	}
	if cur.LogLevel != next.LogLevel && d.opts.Level != nil {
		var l slog.Level
		_ = l.UnmarshalText([]byte(next.LogLevel)) // validated by Reload
		d.opts.Level.Set(l)
		applied = append(applied, "log-level")
	}
	if rest := restartOnly(cur, next); len(rest) > 0 {
		d.log.Warn("configuration changes that take effect at the next restart", "settings", rest)
	}
	// Settings that need a restart keep their running values.
	cur.Collectors, cur.ReportInterval, cur.LatencyQuantum, cur.LogLevel, cur.DropReasons =
		next.Collectors, next.ReportInterval, next.LatencyQuantum, next.LogLevel, next.DropReasons
	d.cfg = cur
	d.configReloads.Add(1)
	d.log.Info("configuration reloaded", "file", cur.ConfigFile, "applied", applied)
}

// restartOnly names (by flag) the settings that differ and cannot change
// while running.
func restartOnly(a, b config.Config) []string {
	var out []string
	for _, name := range config.Changed(a, b) {
		if !slices.Contains(config.Reloadable, name) {
			out = append(out, name)
		}
	}
	return out
}
