package service

import (
	"encoding/json"
	"net/http"

	"github.com/podint/podint/collector/store"
	"github.com/podint/podint/internal/collectorapi"
)

// apiHandlers serves the query API (read-only, from the database) on mux.
func (c *Collector) apiHandlers(mux *http.ServeMux) {
	q, _ := c.Store.(store.Querier)
	query := func(fn func(w http.ResponseWriter, r *http.Request, q store.Querier) (any, error)) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			if q == nil {
				http.Error(w, "this podint-collector stores nothing (no --database-url): no paths to query", http.StatusServiceUnavailable)
				return
			}
			out, err := fn(w, r, q)
			if err != nil {
				http.Error(w, err.Error(), http.StatusBadRequest)
				return
			}
			if out == nil {
				return // written already
			}
			w.Header().Set("Content-Type", "application/json")
			json.NewEncoder(w).Encode(out)
		}
	}
	mux.HandleFunc("GET /api/v1/paths", query(func(_ http.ResponseWriter, r *http.Request, q store.Querier) (any, error) {
		v := r.URL.Query()
		since, limit, err := collectorapi.ParseWindow(v)
		if err != nil {
			return nil, err
		}
		return q.SlowestPaths(r.Context(), collectorapi.PathQuery{Since: since, Limit: limit,
			SrcNamespace: v.Get("src_namespace"), DstNamespace: v.Get("dst_namespace")})
	}))
	mux.HandleFunc("GET /api/v1/drops", query(func(_ http.ResponseWriter, r *http.Request, q store.Querier) (any, error) {
		v := r.URL.Query()
		since, limit, err := collectorapi.ParseWindow(v)
		if err != nil {
			return nil, err
		}
		return q.Drops(r.Context(), collectorapi.DropQuery{Since: since, Limit: limit, Namespace: v.Get("namespace"), Pod: v.Get("pod")})
	}))
	// format: json (the Graph), dot (Graphviz), grafana (Node Graph frames).
	mux.HandleFunc("GET /api/v1/graph", query(func(w http.ResponseWriter, r *http.Request, q store.Querier) (any, error) {
		since, _, err := collectorapi.ParseWindow(r.URL.Query())
		if err != nil {
			return nil, err
		}
		g, err := q.Graph(r.Context(), since)
		if err != nil {
			return nil, err
		}
		switch r.URL.Query().Get("format") {
		case "", "json":
			return g, nil
		case "grafana":
			return g.NodeGraphFrames(), nil
		case "dot":
			w.Header().Set("Content-Type", "text/vnd.graphviz")
			w.Write([]byte(g.DOT()))
			return nil, nil
		}
		http.Error(w, "format: want json, dot or grafana", http.StatusBadRequest)
		return nil, nil
	}))
}
