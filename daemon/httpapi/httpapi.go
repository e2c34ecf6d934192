// Package httpapi is the daemon's optional read-only HTTP listener (off by
// default, --http-listen): /healthz for kubelet probes, /metrics for
// Prometheus, /api/v1/topology for DeepInsight's topology tools and the
// collector, and /api/v1/translations (NATed connections) for the collector.
package httpapi

import (
	"bytes"
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/podint/podint/internal/topology"
	podintv1 "github.com/podint/podint/proto/podint/v1"
)

// Source is what the listener reads from the daemon.
type Source struct {
	Health   func() *podintv1.HealthResponse
	Topology func() *podintv1.TopologyResponse
	// Translations are the node's recent NATed connections (nil: none).
	Translations func() topology.Translations
	Metrics      *prometheus.Registry
	// TokenFile, when set, holds the bearer token /api/v1/topology
	// requires; it is read per request, so a rotated token applies at once.
	TokenFile string
}

// Handler serves the listener's paths. Only GET and HEAD are answered.
func Handler(src Source) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		h := src.Health()
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		// Degraded (a collector that does not resolve, a ring buffer that
		// overflows) still answers 200: restarting podintd would not help,
		// and a liveness probe must not do it.
		switch {
		case !h.GetOk():
			w.WriteHeader(http.StatusServiceUnavailable)
			fmt.Fprintf(w, "unhealthy: %s\n", strings.Join(h.GetProblems(), "; "))
		case len(h.GetWarnings()) > 0:
			fmt.Fprintln(w, "degraded")
		default:
			fmt.Fprintln(w, "ok")
		}
		for _, warn := range h.GetWarnings() {
			fmt.Fprintf(w, "warning: %s\n", warn)
		}
	})
	mux.Handle("GET /metrics", promhttp.HandlerFor(src.Metrics, promhttp.HandlerOpts{}))
	mux.HandleFunc("GET /api/v1/topology", func(w http.ResponseWriter, r *http.Request) {
		if err := authorized(src.TokenFile, r); err != nil {
			w.Header().Set("WWW-Authenticate", "Bearer")
			http.Error(w, err.Error(), http.StatusUnauthorized)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		_ = enc.Encode(topology.HostReporter(src.Topology()))
	})
	// The collector joins these to the flows it receives: which Service a
	// connection was sent to, which pod a masqueraded source stands for.
	mux.HandleFunc("GET "+topology.TranslationsPath, func(w http.ResponseWriter, r *http.Request) {
		if err := authorized(src.TokenFile, r); err != nil {
			w.Header().Set("WWW-Authenticate", "Bearer")
			http.Error(w, err.Error(), http.StatusUnauthorized)
			return
		}
		t := topology.Translations{Connections: []topology.Translation{}}
		if src.Translations != nil {
			t = src.Translations()
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(t)
	})
	return mux
}

// authorized checks r's bearer token against the one in tokenFile ("": no
// token required).
func authorized(tokenFile string, r *http.Request) error {
	if tokenFile == "" {
		return nil
	}
	want, err := os.ReadFile(tokenFile)
	if err != nil || len(bytes.TrimSpace(want)) == 0 {
		return fmt.Errorf("the node's token file %s is unreadable or empty", tokenFile)
	}
	got, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if !ok || subtle.ConstantTimeCompare([]byte(strings.TrimSpace(got)), bytes.TrimSpace(want)) != 1 {
		return errors.New("a bearer token (Authorization: Bearer <token>) matching the node's --http-token-file is required")
	}
	return nil
}

// Serve answers on l until ctx ends.
func Serve(ctx context.Context, l net.Listener, h http.Handler) error {
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 5 * time.Second}
	stop := context.AfterFunc(ctx, func() {
		sctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		_ = srv.Shutdown(sctx)
	})
	defer stop()
	if err := srv.Serve(l); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("serve HTTP: %w", err)
	}
	return nil
}
