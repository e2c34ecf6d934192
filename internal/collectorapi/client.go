package collectorapi

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// Client queries a podint-collector's HTTP API.
type Client struct {
	URL  string // e.g. http://podint-collector.podint:9090
	HTTP *http.Client
}

// Values encodes q as URL parameters.
func (q PathQuery) Values() url.Values {
	v := url.Values{}
	if q.Since > 0 {
		v.Set("since", q.Since.String())
	}
	if q.SrcNamespace != "" {
		v.Set("src_namespace", q.SrcNamespace)
	}
	if q.DstNamespace != "" {
		v.Set("dst_namespace", q.DstNamespace)
	}
	if q.Limit > 0 {
		v.Set("limit", strconv.Itoa(q.Limit))
	}
	return v
}

// Values encodes q as URL parameters.
func (q DropQuery) Values() url.Values {
	v := url.Values{}
	if q.Since > 0 {
		v.Set("since", q.Since.String())
	}
	if q.Namespace != "" {
		v.Set("namespace", q.Namespace)
	}
	if q.Pod != "" {
		v.Set("pod", q.Pod)
	}
	if q.Limit > 0 {
		v.Set("limit", strconv.Itoa(q.Limit))
	}
	return v
}

// ParseWindow reads since and limit parameters with their defaults.
func ParseWindow(v url.Values) (since time.Duration, limit int, err error) {
	since, limit = 5*time.Minute, 20
	if s := v.Get("since"); s != "" {
		if since, err = time.ParseDuration(s); err != nil || since <= 0 {
			return 0, 0, fmt.Errorf("since=%q: want a positive duration such as 5m", s)
		}
	}
	if s := v.Get("limit"); s != "" {
		if limit, err = strconv.Atoi(s); err != nil || limit <= 0 || limit > 10000 {
			return 0, 0, fmt.Errorf("limit=%q: want 1 to 10000", s)
		}
	}
	return since, limit, nil
}

// Paths returns the slowest paths matching q.
func (c *Client) Paths(ctx context.Context, q PathQuery) ([]Path, error) {
	var out []Path
	return out, c.get(ctx, "/api/v1/paths", q.Values(), &out)
}

// Drops returns the drops matching q, most recent first.
func (c *Client) Drops(ctx context.Context, q DropQuery) ([]Drop, error) {
	var out []Drop
	return out, c.get(ctx, "/api/v1/drops", q.Values(), &out)
}

// Graph returns the topology of the paths of the last since.
func (c *Client) Graph(ctx context.Context, since time.Duration) (Graph, error) {
	var out Graph
	v := url.Values{}
	if since > 0 {
		v.Set("since", since.String())
	}
	return out, c.get(ctx, "/api/v1/graph", v, &out)
}

func (c *Client) get(ctx context.Context, path string, v url.Values, out any) error {
	hc := c.HTTP
	if hc == nil {
		hc = &http.Client{Timeout: 30 * time.Second}
	}
	u := strings.TrimSuffix(c.URL, "/") + path
	if len(v) > 0 {
		u += "?" + v.Encode()
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return fmt.Errorf("collector URL %q: %w", c.URL, err)
	}
	resp, err := hc.Do(req)
	if err != nil {
		return fmt.Errorf("%w (is podint-collector running and serving --http-listen there? set --collector-url)", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
		return fmt.Errorf("GET %s: %s: %s", u, resp.Status, strings.TrimSpace(string(b)))
	}
	if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
		return fmt.Errorf("GET %s: %w", u, err)
	}
	return nil
}
