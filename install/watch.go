package install

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"time"

	"github.com/fsnotify/fsnotify"
)

// Run installs podint and keeps it installed until ctx ends: it copies the
// plugin binary, chains podint into the primary CNI's config as soon as there
// is one, and chains it in again whenever a config in the conf dir changes (a
// primary CNI rewrites its file when it restarts or upgrades). Its own writes
// change nothing on the next pass, so they cause no further writes. A file it
// cannot edit is reported and watched until it is fixed. With waitTimeout > 0,
// Run fails if no config appears within that time.
func (in *Installer) Run(ctx context.Context, waitTimeout time.Duration) error {
	if err := in.CopyBinary(); err != nil {
		return err
	}
	// Watch before the first pass so that no change after it goes unseen.
	w, err := in.watchConfDir()
	if err != nil {
		return err
	}
	defer w.Close()

	var deadline <-chan time.Time
	if !in.reconcile() && waitTimeout > 0 {
		t := time.NewTimer(waitTimeout)
		defer t.Stop()
		deadline = t.C
	}
	if in.afterStart != nil {
		in.afterStart()
	}
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-deadline:
			return in.waitError(waitTimeout)
		case ev, ok := <-w.Events:
			if !ok {
				return errors.New("the conf dir watch ended")
			}
			if err := in.dirGone(ev); err != nil {
				return err
			}
			if isConfigName(filepath.Base(ev.Name)) && !ev.Has(fsnotify.Chmod) && in.reconcile() {
				deadline = nil
			}
			if in.afterEvent != nil {
				in.afterEvent(ev.Name)
			}
		case err, ok := <-w.Errors:
			if !ok {
				return errors.New("the conf dir watch ended")
			}
			in.log().Warn("watching the CNI conf dir", "dir", in.ConfDir, "err", err)
			if errors.Is(err, fsnotify.ErrEventOverflow) && in.reconcile() {
				// Events were lost; a pass over the directory makes up for them.
				deadline = nil
			}
		}
	}
}

// InstallOnce copies the plugin binary and chains podint into the primary
// CNI's config, waiting up to waitTimeout (0: until ctx ends) for that config
// to appear. A file it cannot edit is reported and waited on too, because
// primaries that write in place are briefly seen half-written; if the time runs
// out, that file's error is returned. It does not watch afterwards.
func (in *Installer) InstallOnce(ctx context.Context, waitTimeout time.Duration) error {
	if err := in.CopyBinary(); err != nil {
		return err
	}
	w, err := in.watchConfDir()
	if err != nil {
		return err
	}
	defer w.Close()
	if waitTimeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, waitTimeout)
		defer cancel()
	}
	for {
		_, err := in.Insert()
		var ce *ConfigError
		switch {
		case err == nil:
			return nil
		case errors.As(err, &ce):
			in.log().Error("cannot chain podint into the CNI config", "err", err)
		case errors.Is(err, ErrNoConfig):
			in.log().Info("waiting for the primary CNI config", "dir", in.ConfDir, "reason", err)
		default:
			return err
		}
		select {
		case <-ctx.Done():
			if ce != nil {
				return err
			}
			if errors.Is(ctx.Err(), context.DeadlineExceeded) {
				return in.waitError(waitTimeout)
			}
			return ctx.Err()
		case ev, ok := <-w.Events:
			if !ok {
				return errors.New("the conf dir watch ended")
			}
			if err := in.dirGone(ev); err != nil {
				return err
			}
		case err := <-w.Errors:
			in.log().Warn("watching the CNI conf dir", "dir", in.ConfDir, "err", err)
		}
	}
}

func (in *Installer) watchConfDir() (*fsnotify.Watcher, error) {
	w, err := fsnotify.NewWatcher()
	if err != nil {
		return nil, fmt.Errorf("watching the CNI conf dir: %w", err)
	}
	if err := w.Add(in.ConfDir); err != nil {
		w.Close()
		return nil, fmt.Errorf("watching the CNI conf dir %s: %w; check --cni-conf-dir and the hostPath mount", in.ConfDir, err)
	}
	return w, nil
}

// dirGone fails when the conf dir itself went away: the watch is dead then,
// and a restart of the container mounts the directory afresh.
func (in *Installer) dirGone(ev fsnotify.Event) error {
	if filepath.Clean(ev.Name) == filepath.Clean(in.ConfDir) && ev.Has(fsnotify.Remove|fsnotify.Rename) {
		return fmt.Errorf("the CNI conf dir %s was removed", in.ConfDir)
	}
	return nil
}

// reconcile makes one pass and logs its outcome; it reports whether podint is
// chained into the primary's config now.
func (in *Installer) reconcile() bool {
	t, err := in.Insert()
	var ce *ConfigError
	switch {
	case err == nil:
		in.log().Debug("podint is chained into the CNI config", "file", t.File, "active", t.Active)
		return true
	case errors.Is(err, ErrNoConfig):
		in.log().Info("waiting for the primary CNI config", "dir", in.ConfDir, "reason", err)
	case errors.As(err, &ce):
		in.log().Error("cannot chain podint into the CNI config", "err", err)
	default:
		in.log().Error("chaining podint into the CNI config", "dir", in.ConfDir, "err", err)
	}
	return false
}

func (in *Installer) waitError(waitTimeout time.Duration) error {
	return fmt.Errorf("no primary CNI config appeared in %s within %s; install the cluster's CNI first, or set --cni-conf-dir to the directory the runtime reads (k3s: /var/lib/rancher/k3s/agent/etc/cni/net.d, see docs/install.md)", in.ConfDir, waitTimeout)
}
