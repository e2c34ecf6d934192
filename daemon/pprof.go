package daemon

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/pprof"
	"time"
)

// pprofListener serves Go's profiles on --pprof-listen, apart from the
// read-only HTTP listener: profiles show the daemon's internals and cost
// CPU while taken, so they are off unless asked for. nil when off.
func (d *Daemon) pprofListener() (net.Listener, error) {
	if d.cfg.PprofListen == "" {
		return nil, nil
	}
	l, err := net.Listen("tcp", d.cfg.PprofListen)
	if err != nil {
		return nil, fmt.Errorf("pprof-listen %s: %w", d.cfg.PprofListen, err)
	}
	return l, nil
}

// servePprof serves /debug/pprof/ on l until ctx ends.
func servePprof(ctx context.Context, l net.Listener) error {
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	stop := context.AfterFunc(ctx, func() { _ = srv.Close() })
	defer stop()
	if err := srv.Serve(l); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("pprof-listen: %w", err)
	}
	return nil
}
