package demo

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/url"
	"os"
	"path/filepath"
	"text/tabwriter"
	"time"

	"github.com/podint/podint/internal/collectorapi"
	"github.com/podint/podint/test/harness"
	"github.com/podint/podint/test/tools"
)

// The cluster view: podint-collector in the fabric (where every node's
// uplink reaches it), storing into a private PostgreSQL and reading each
// node's pods with a bearer token, as deployed with the chart's
// collector.enabled. At the end the demo prints the paths it joined, as
// `podintctl cluster paths` does.

const (
	fabricCollector = "192.168.50.254" // the fabric's bridge address (harness)
	// viewInterval is the collector's interval: short, so the demo's last
	// traffic is in the database a moment after it stops.
	viewInterval = time.Second
	topologyPort = 9091
)

type clusterView struct {
	pg    *harness.Postgres
	col   *harness.ClusterCollector
	dir   string
	token string
}

// clusterViewAvailable says whether the cluster view can run: PostgreSQL's
// server programs (Debian's postgresql-15, which `make deps` installs).
func clusterViewAvailable() error {
	return tools.Need(filepath.Join(harness.PostgresBin, "initdb"), filepath.Join(harness.PostgresBin, "pg_ctl"),
		filepath.Join(harness.PostgresBin, "postgres"))
}

// startClusterView starts PostgreSQL and podint-collector; the nodes'
// daemons are then started with nodeArgs.
func startClusterView(ctx context.Context, c *harness.Cluster, binDir string) (_ *clusterView, err error) {
	v := &clusterView{}
	defer func() {
		if err != nil {
			v.Close()
		}
	}()
	if v.dir, err = os.MkdirTemp("", harness.Prefix+"demo-view-"); err != nil {
		return nil, err
	}
	v.token = filepath.Join(v.dir, "topology-token")
	if err := os.WriteFile(v.token, []byte("podint-demo\n"), 0o600); err != nil {
		return nil, err
	}
	if v.pg, err = harness.NewPostgres(ctx); err != nil {
		return nil, fmt.Errorf("cluster view: %w", err)
	}
	v.col, err = harness.StartClusterCollector(ctx, c.Fabric, binDir, fabricCollector+":9090",
		"--listen", fabricCollector+":32766", "--database-url", v.pg.DSN(), "--interval", viewInterval.String(),
		"--node-topology-port", fmt.Sprint(topologyPort), "--node-topology-interval", "1s", "--node-topology-token-file", v.token)
	if err != nil {
		return nil, fmt.Errorf("cluster view: %w", err)
	}
	return v, nil
}

// collector is where the nodes send their reports, beside the demo's own.
func (v *clusterView) collector() string { return fabricCollector + ":32766" }

// nodeArgs makes node i (from 1) serve its topology to the collector.
func (v *clusterView) nodeArgs(i int) []string {
	return []string{"--http-listen", fmt.Sprintf("%s:%d", harness.NodeUplinkAddr(i), topologyPort), "--http-token-file", v.token}
}

// paths asks the collector for the paths it stored.
func (v *clusterView) paths(since time.Duration) ([]collectorapi.Path, error) {
	q := collectorapi.PathQuery{Since: since, Limit: 30}
	body, err := v.col.Get("/api/v1/paths?" + url.Values(q.Values()).Encode())
	if err != nil {
		return nil, err
	}
	var out []collectorapi.Path
	if err := json.Unmarshal([]byte(body), &out); err != nil {
		return nil, fmt.Errorf("collector paths: %w", err)
	}
	return out, nil
}

// print waits for the last interval to be stored, then writes the paths
// the collector joined, slowest first.
func (v *clusterView) print(w io.Writer, since time.Duration) error {
	time.Sleep(viewInterval + viewInterval/2) // the interval under way, flushed and written
	paths, err := v.paths(since)
	if err != nil {
		return fmt.Errorf("cluster view: %w\n%s", err, v.col.Log())
	}
	fmt.Fprintln(w, "CLUSTER VIEW: the paths podint-collector joined from both nodes' reports, in PostgreSQL (podintctl cluster paths)")
	fmt.Fprintln(w)
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "INTERVAL\tPROTO\tSOURCE\tDESTINATION\tLATENCY\tREPORTS\tDROPS\tROUTE")
	for _, p := range paths {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%v\t%d\t%d\t%s\n", p.Interval.Local().Format(time.TimeOnly), p.Proto,
			p.Src.Name(), p.Dst.Name(), time.Duration(p.LatencyNS), p.Reports, p.Drops, p.Route)
	}
	return tw.Flush()
}

func (v *clusterView) Close() {
	if v.col != nil {
		v.col.Close()
	}
	if v.pg != nil {
		v.pg.Close()
	}
	if v.dir != "" {
		os.RemoveAll(v.dir)
	}
}
