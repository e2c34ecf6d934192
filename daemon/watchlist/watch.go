package watchlist

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync/atomic"

	"github.com/podint/podint/bpf"
	"github.com/podint/podint/daemon/filewatch"
)

// Applier puts rules in force (bpf.Collection.SetWatchlist).
type Applier func([]bpf.WatchRule) error

// Watcher keeps a watchlist file in force and reloads it when it changes.
type Watcher struct {
	path  string
	apply Applier
	log   *slog.Logger

	watch    *filewatch.Watch
	last     []byte
	reloads  atomic.Uint64
	rejected atomic.Uint64
	rules    atomic.Int64
}

// NewWatcher applies the file at path once; a file that does not exist yet
// selects every flow until it appears. A file with an error is an error.
func NewWatcher(path string, apply Applier, log *slog.Logger) (*Watcher, error) {
	w := &Watcher{path: path, apply: apply, log: log}
	// Watch before the first read, so no change after it is missed.
	fw, err := filewatch.New(path)
	if err != nil {
		return nil, fmt.Errorf("watchlist: %w", err)
	}
	w.watch = fw
	data, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		log.Warn("watchlist file does not exist yet; reporting every flow until it appears", "file", path)
		if err := apply(nil); err != nil {
			fw.Close()
			return nil, err
		}
		return w, nil
	}
	if err != nil {
		fw.Close()
		return nil, fmt.Errorf("read watchlist: %w", err)
	}
	if err := w.load(data); err != nil {
		fw.Close()
		return nil, err
	}
	return w, nil
}

func (w *Watcher) load(data []byte) error {
	rules, err := Parse(w.path, data)
	if err != nil {
		return err
	}
	if err := w.apply(rules); err != nil {
		return fmt.Errorf("%s: %w", w.path, err)
	}
	w.last = data
	w.rules.Store(int64(len(rules)))
	return nil
}

// Close stops watching; Run returns once ctx ends. It is safe to call more
// than once, and instead of Run when the daemon does not start.
func (w *Watcher) Close() { w.watch.Close() }

// Run reloads the file on every change until ctx ends.
func (w *Watcher) Run(ctx context.Context) error {
	return w.watch.Run(ctx, w.Reload, w.log.With("file", w.path))
}

// Reload reads the file again and applies it if it changed and is valid;
// otherwise the rules in force stay.
func (w *Watcher) Reload() {
	data, err := os.ReadFile(w.path)
	if err != nil {
		w.rejected.Add(1)
		w.log.Error("watchlist unreadable; previous rules stay in force", "file", w.path, "err", err)
		return
	}
	if bytes.Equal(data, w.last) {
		return
	}
	if err := w.load(data); err != nil {
		w.rejected.Add(1)
		w.log.Error("watchlist rejected; previous rules stay in force", "err", err)
		return
	}
	w.reloads.Add(1)
	w.log.Info("watchlist reloaded", "file", w.path, "rules", w.rules.Load())
}

// Reloads counts successful reloads after the first load.
func (w *Watcher) Reloads() uint64 { return w.reloads.Load() }

// Rejected counts changes rejected for an error.
func (w *Watcher) Rejected() uint64 { return w.rejected.Load() }

// Rules is the number of rules in force (0: every flow).
func (w *Watcher) Rules() int { return int(w.rules.Load()) }
