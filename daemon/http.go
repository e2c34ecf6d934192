package daemon

import (
	"context"
	"fmt"
	"net"

	"github.com/podint/podint/daemon/httpapi"
	"github.com/podint/podint/daemon/metrics"
	"github.com/podint/podint/internal/topology"
)

// httpListener is the open --http-listen socket and what it serves.
type httpListener struct {
	l   net.Listener
	src httpapi.Source
}

// httpServer opens the --http-listen socket; nil when it is off. It is
// opened before the daemon says it is ready, so a busy port stops the start.
func (d *Daemon) httpServer() (*httpListener, error) {
	if d.cfg.HTTPListen == "" {
		return nil, nil
	}
	l, err := net.Listen("tcp", d.cfg.HTTPListen)
	if err != nil {
		return nil, fmt.Errorf("http-listen %s: %w", d.cfg.HTTPListen, err)
	}
	return &httpListener{l: l, src: httpapi.Source{
		Health:   d.Health,
		Topology: d.store.Topology,
		Translations: func() topology.Translations {
			return d.nat.Snapshot(d.store.Topology().GetNode().GetName())
		},
		Metrics:   metrics.NewRegistry(d.Stats),
		TokenFile: d.cfg.HTTPTokenFile,
	}}, nil
}

func (h *httpListener) run(ctx context.Context) error {
	return httpapi.Serve(ctx, h.l, httpapi.Handler(h.src))
}
