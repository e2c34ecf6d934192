package watchlist

import (
	"context"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/podint/podint/bpf"
)

type applied struct {
	mu    sync.Mutex
	rules [][]bpf.WatchRule
}

func (a *applied) apply(r []bpf.WatchRule) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.rules = append(a.rules, r)
	return nil
}

func (a *applied) count() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return len(a.rules)
}

func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestReloadKeepsLastGoodRules follows a ConfigMap-style update (write a new
// file and rename it over the old one), then a bad update.
func TestReloadKeepsLastGoodRules(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "watchlist.yaml")
	write := func(s string) {
		tmp := filepath.Join(dir, ".tmp")
		if err := os.WriteFile(tmp, []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(tmp, path); err != nil {
			t.Fatal(err)
		}
	}
	write("rules:\n  - protocol: UDP\n")
	var a applied
	w, err := NewWatcher(path, a.apply, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	if a.count() != 1 || w.Rules() != 1 {
		t.Fatalf("initial load: applied %d times, %d rules", a.count(), w.Rules())
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go w.Run(ctx)

	write("rules:\n  - protocol: TCP\n  - protocol: UDP\n")
	eventually(t, "reload of a good file", func() bool { return w.Reloads() >= 1 })
	if w.Rules() != 2 {
		t.Fatalf("rules in force %d, want 2", w.Rules())
	}
	n := a.count()
	write("rules:\n  - src-addr: 10.0.0.0/33\n")
	eventually(t, "rejection of a bad file", func() bool { return w.Rejected() >= 1 })
	if a.count() != n || w.Rules() != 2 {
		t.Fatalf("a bad file changed the rules in force: applied %d (was %d), %d rules", a.count(), n, w.Rules())
	}
}

func TestMissingFileSelectsEverything(t *testing.T) {
	var a applied
	_, err := NewWatcher(filepath.Join(t.TempDir(), "none.yaml"), a.apply, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil || a.count() != 1 || len(a.rules[0]) != 0 {
		t.Fatalf("err %v, applied %v", err, a.rules)
	}
}

func TestBadFileAtStartIsAnError(t *testing.T) {
	path := filepath.Join(t.TempDir(), "w.yaml")
	os.WriteFile(path, []byte("rules:\n  - protocol: nope\n"), 0o644)
	var a applied
	if _, err := NewWatcher(path, a.apply, slog.New(slog.NewTextHandler(io.Discard, nil))); err == nil {
		t.Fatal("a bad watchlist at start must stop the daemon with its error")
	}
}

// Close ends the watch whether Run runs or not, and twice is harmless: a
// daemon that fails to start after creating its watcher closes it.
func TestCloseEndsTheWatch(t *testing.T) {
	path := filepath.Join(t.TempDir(), "watchlist.yaml")
	w, err := NewWatcher(path, func([]bpf.WatchRule) error { return nil }, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- w.Run(context.Background()) }()
	w.Close()
	w.Close()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("Run did not return after Close")
	}
}
