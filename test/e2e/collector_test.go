package e2e

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/podint/podint/test/harness"
)

// The fabric namespace's bridge address: every node's uplink reaches the
// cluster collector there.
const fabricCollector = "192.168.50.254"

type collectorCluster struct {
	cluster *harness.Cluster
	col     *harness.ClusterCollector
	pg      *harness.Postgres
	db      *pgxpool.Pool
	args    []string
}

// startCollectorCluster runs two podint nodes whose podintd send to one
// podint-collector in the fabric, which stores into a private PostgreSQL
// and reads the nodes' topology on their --http-listen.
func startCollectorCluster(t *testing.T) *collectorCluster {
	cc, _ := startClusterWithCollector(t, harness.ClusterConfig{BinDir: binDir}, false)
	return cc
}

// startClusterWithCollector runs the cluster of cfg with its podintd
// sending to a podint-collector in the fabric (a private PostgreSQL behind
// it), which reads each node's topology and NATed connections with a
// bearer token; with nodeCollectors, each node's podintd also sends to a
// collector of its own in the node, returned in node order.
func startClusterWithCollector(t *testing.T, cfg harness.ClusterConfig, nodeCollectors bool) (*collectorCluster, []*harness.Collector) {
	t.Helper()
	requireRoot(t)
	ctx := testContext(t)
	pg, err := harness.NewPostgres(ctx)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pg.Close() })
	c, err := harness.NewCluster(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	// The nodes serve their pods only to who holds the token.
	token := filepath.Join(t.TempDir(), "topology-token")
	if err := os.WriteFile(token, []byte("e2e-token\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cc := &collectorCluster{cluster: c, pg: pg, args: []string{
		"--listen", fabricCollector + ":32766", "--database-url", pg.DSN(), "--interval", "1s",
		"--node-topology-port", "9091", "--node-topology-interval", "1s", "--node-topology-token-file", token,
	}}
	cc.startCollector(t)
	var cols []*harness.Collector
	for i, n := range c.Nodes {
		n.Config.Collectors = []string{fabricCollector + ":32766"}
		if nodeCollectors {
			col, err := harness.NewCollector(n.NS)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { col.Close() })
			cols = append(cols, col)
			n.Config.Collectors = append([]string{col.Addr()}, n.Config.Collectors...)
		}
		n.Config.DaemonArgs = append(n.Config.DaemonArgs, "--http-listen", fmt.Sprintf("%s:9091", harness.NodeUplinkAddr(i+1)),
			"--http-token-file", token)
		t.Cleanup(func() {
			if t.Failed() {
				t.Logf("%s podintd log:\n%s", n.Config.Name, n.DaemonLog())
			}
		})
		if err := n.StartDaemon(ctx); err != nil {
			t.Fatal(err)
		}
	}
	if cc.db, err = pgxpool.New(ctx, pg.DSN()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cc.db.Close)
	return cc, cols
}

func (cc *collectorCluster) startCollector(t *testing.T) {
	t.Helper()
	col, err := harness.StartClusterCollector(testContext(t), cc.cluster.Fabric, binDir, fabricCollector+":9090", cc.args...)
	if err != nil {
		t.Fatal(err)
	}
	cc.col = col
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("podint-collector log:\n%s", col.Log())
		}
		col.Close()
	})
}

// talk keeps a TCP connection from pod a to pod b busy until ctx ends, so
// that every interval has reports of the flow.
func talk(t *testing.T, ctx context.Context, a, b *harness.Pod) (sport uint16) {
	t.Helper()
	l, err := b.ListenTCP(5201)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	go func() {
		if c, err := l.Accept(); err == nil {
			io.Copy(c, c)
			c.Close()
		}
	}()
	conn, err := a.DialTCP(ctx, netip.AddrPortFrom(b.IP, 5201).String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	go func() {
		buf := make([]byte, 16)
		for ctx.Err() == nil {
			conn.Write([]byte("across the fabric"[:16]))
			io.ReadFull(conn, buf)
			time.Sleep(100 * time.Millisecond)
		}
	}()
	return uint16(conn.LocalAddr().(*net.TCPAddr).Port)
}

type storedPath struct {
	route                        string
	srcNS, srcPod, dstNS, dstPod string
	srcNode, dstNode             string
	hops                         int64
	latencyNS                    int64
}

// waitForPath polls the database until the flow's path has both pods
// named and at least two hops.
func (cc *collectorCluster) waitForPath(t *testing.T, ctx context.Context, a, b *harness.Pod, sport uint16) storedPath {
	t.Helper()
	var p storedPath
	var err error
	for ctx.Err() == nil {
		err = cc.db.QueryRow(ctx, `SELECT route, src_namespace, src_pod, src_node, dst_namespace, dst_pod, dst_node, hops, latency_ns
			FROM paths WHERE proto = 6 AND src_ip = $1 AND dst_ip = $2 AND src_port = $3 AND dst_port = 5201
			AND src_pod <> '' AND dst_pod <> '' AND hops >= 2 ORDER BY interval_start DESC LIMIT 1`,
			a.IP.String(), b.IP.String(), int32(sport)).
			Scan(&p.route, &p.srcNS, &p.srcPod, &p.srcNode, &p.dstNS, &p.dstPod, &p.dstNode, &p.hops, &p.latencyNS)
		if err == nil {
			return p
		}
		time.Sleep(200 * time.Millisecond)
	}
	var rows []string
	if r, qerr := cc.db.Query(context.Background(), "SELECT route || ' ' || src_pod || '>' || dst_pod || ' ' || host(src_ip) || ':' || src_port || '>' || host(dst_ip) || ':' || dst_port FROM paths"); qerr == nil {
		for r.Next() {
			var s string
			r.Scan(&s)
			rows = append(rows, s)
		}
	}
	t.Fatalf("no path of tcp %s:%d -> %s:5201 with both pods named: %v; paths stored: %v", a.IP, sport, b.IP, err, rows)
	return p
}

func TestCollectorJoinsCrossNodePathWithPodNames(t *testing.T) {
	cc := startCollectorCluster(t)
	ctx := testContext(t)
	n1, n2 := cc.cluster.Nodes[0], cc.cluster.Nodes[1]
	a, b := addPod(t, n1, "a"), addPod(t, n2, "b")
	va, _ := a.HostVeth()
	vb, _ := b.HostVeth()
	up1, up2 := uplinkIndex(t, n1), uplinkIndex(t, n2)
	sport := talk(t, ctx, a, b)

	p := cc.waitForPath(t, ctx, a, b, sport)
	wantRoute := fmt.Sprintf("n1[%d>%d] -> n2[%d>%d]", va.Attrs().Index, up1, up2, vb.Attrs().Index)
	if p.route != wantRoute {
		t.Errorf("route %q, want %q: node 1's hop from pod a's veth to the uplink, then node 2's", p.route, wantRoute)
	}
	if p.srcNS != "default" || p.srcPod != "a" || p.srcNode != "n1" || p.dstNS != "default" || p.dstPod != "b" || p.dstNode != "n2" {
		t.Errorf("endpoints %s/%s on %s -> %s/%s on %s, want default/a on n1 -> default/b on n2",
			p.srcNS, p.srcPod, p.srcNode, p.dstNS, p.dstPod, p.dstNode)
	}
	if p.hops != 2 || p.latencyNS <= 0 {
		t.Errorf("%d hops, latency %dns; want 2 hops and a latency", p.hops, p.latencyNS)
	}

	// The metrics name a report's pods as known when it arrived, the path
	// names them again when its interval is written: the path can be
	// complete before a report of the pair arrived after the nodes' pods
	// were read, so wait for one (the traffic goes on).
	pair := `podint_collector_hop_latency_seconds_count{dst_namespace="default",dst_workload="b",src_namespace="default",src_workload="a"}`
	var metrics string
	for deadline := time.Now().Add(time.Minute); ; time.Sleep(200 * time.Millisecond) {
		var err error
		if metrics, err = cc.col.Get("/metrics"); err != nil {
			t.Fatal(err)
		}
		if strings.Contains(metrics, pair) || time.Now().After(deadline) {
			break
		}
	}
	for _, want := range []string{
		pair,
		`podint_collector_reports_total{source="192.168.50.1"}`,
		`podint_collector_reports_total{source="192.168.50.2"}`,
		`podint_collector_store_queue_capacity`,
		`podint_collector_topology_poll_errors_total 0`,
	} {
		if !strings.Contains(metrics, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}

	// What an operator runs: podintctl against the collector.
	out := cc.podintctl(t, "cluster", "paths", "--since", "10m", "--from", "default", "--to", "default")
	if !strings.Contains(out, "default/a") || !strings.Contains(out, "default/b") || !strings.Contains(out, wantRoute) {
		t.Errorf("podintctl cluster paths lacks default/a -> default/b over %s:\n%s", wantRoute, out)
	}
	dot := cc.podintctl(t, "cluster", "graph", "--since", "10m")
	for _, want := range []string{`"pod:default/a" -> "switch:n1"`, `"switch:n1" -> "switch:n2"`, `"switch:n2" -> "pod:default/b"`} {
		if !strings.Contains(dot, want) {
			t.Errorf("podintctl cluster graph lacks %s:\n%s", want, dot)
		}
	}
}

// podintctl runs podintctl in the fabric namespace against the collector.
func (cc *collectorCluster) podintctl(t *testing.T, args ...string) string {
	t.Helper()
	cmd := exec.Command(filepath.Join(binDir, "podintctl"), append(args, "--collector-url", "http://"+cc.col.HTTP)...)
	var out []byte
	err := cc.cluster.Fabric.Do(func() (err error) {
		out, err = cmd.CombinedOutput()
		return err
	})
	if err != nil {
		t.Fatalf("podintctl %v: %v\n%s", args, err, out)
	}
	return string(out)
}

func TestCollectorRestartWritesNoDuplicates(t *testing.T) {
	cc := startCollectorCluster(t)
	ctx := testContext(t)
	a, b := addPod(t, cc.cluster.Nodes[0], "a"), addPod(t, cc.cluster.Nodes[1], "b")
	sport := talk(t, ctx, a, b)
	cc.waitForPath(t, ctx, a, b, sport)

	// A restart flushes the interval under way; the new process writes the
	// rest of the same interval, merged into the same rows.
	cc.col.Stop(syscall.SIGTERM)
	cc.startCollector(t)
	var before int64
	cc.db.QueryRow(ctx, "SELECT count(*) FROM write_batches").Scan(&before)
	for ctx.Err() == nil {
		var after int64
		cc.db.QueryRow(ctx, "SELECT count(*) FROM write_batches").Scan(&after)
		if after > before+2 {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	var dup int64
	err := cc.db.QueryRow(ctx, `SELECT count(*) FROM (SELECT 1 FROM paths GROUP BY interval_start, proto, src_ip, src_port, dst_ip, dst_port
		HAVING count(*) > 1) d`).Scan(&dup)
	if err != nil {
		t.Fatal(err)
	}
	if dup != 0 {
		t.Errorf("%d flows have more than one path row in one interval after a restart", dup)
	}
	var hopRows, keys int64
	cc.db.QueryRow(ctx, `SELECT count(*), count(DISTINCT (interval_start, src_ip, src_port, dst_ip, dst_port, switch_id, ingress_port, egress_port))
		FROM flow_hops`).Scan(&hopRows, &keys)
	if hopRows != keys {
		t.Errorf("%d hop rows for %d distinct hops: duplicates", hopRows, keys)
	}
	// Rows of the interval the first process wrote merge: no write fails.
	metrics, err := cc.col.Get("/metrics")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(metrics, "podint_collector_store_write_errors_total 0") {
		t.Errorf("the restarted collector's writes failed: %s", grepLines(metrics, "store_"))
	}
}

func grepLines(s, word string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, word) && !strings.HasPrefix(l, "#") {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}
