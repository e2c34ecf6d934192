// Package filewatch tells when a file podintd reads (its --config file, the
// watchlist) changes. It watches the file's directory, not the file, to
// follow the atomic symlink swap of a Kubernetes ConfigMap update, and lets
// a burst of events settle before it says so.
package filewatch

import (
	"context"
	"fmt"
	"log/slog"
	"path/filepath"
	"sync"
	"time"

	"github.com/fsnotify/fsnotify"
)

// settleTime is how long events must stop before a change is reported:
// an editor's save or a ConfigMap swap is several events.
const settleTime = 100 * time.Millisecond

// Watch watches one file.
type Watch struct {
	fw        *fsnotify.Watcher
	closeOnce sync.Once
}

// New starts watching the directory of path. Watch before the first read,
// so that no change after it is missed.
func New(path string) (*Watch, error) {
	fw, err := fsnotify.NewWatcher()
	if err != nil {
		return nil, fmt.Errorf("watch %s: %w", path, err)
	}
	if err := fw.Add(filepath.Dir(path)); err != nil {
		fw.Close()
		return nil, fmt.Errorf("watch directory %s: %w", filepath.Dir(path), err)
	}
	return &Watch{fw: fw}, nil
}

// Close stops watching; Run returns. It is safe to call more than once,
// and instead of Run.
func (w *Watch) Close() {
	w.closeOnce.Do(func() { w.fw.Close() })
}

// Run calls changed after each settled burst of changes until ctx ends or
// the watch is closed.
func (w *Watch) Run(ctx context.Context, changed func(), log *slog.Logger) error {
	defer w.Close()
	var settle <-chan time.Time
	for {
		select {
		case <-ctx.Done():
			return nil
		case err, ok := <-w.fw.Errors:
			if !ok {
				return nil // closed
			}
			log.Warn("file watch error", "err", err)
		case _, ok := <-w.fw.Events:
			if !ok {
				return nil // closed
			}
			settle = time.After(settleTime)
		case <-settle:
			changed()
		}
	}
}
