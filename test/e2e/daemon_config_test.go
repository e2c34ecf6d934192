package e2e

import (
	"context"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/podint/podint/bpf/pins"
	"github.com/podint/podint/internal/intreport"
	"github.com/podint/podint/test/harness"
)

// httpGet fetches url from inside the node's network namespace.
func httpGet(t *testing.T, n *harness.Node, url string) (int, string) {
	t.Helper()
	tr := &http.Transport{DialContext: func(ctx context.Context, network, addr string) (c net.Conn, err error) {
		err = n.NS.Do(func() error { c, err = (&net.Dialer{}).DialContext(ctx, network, addr); return err })
		return c, err
	}}
	defer tr.CloseIdleConnections()
	resp, err := (&http.Client{Transport: tr}).Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// --http-listen serves /healthz, /metrics and /api/v1/topology, which
// kubelet, Prometheus and DeepInsight's topology tools read.
func TestHTTPListener(t *testing.T) {
	n := startNode(t, harness.NodeConfig{DaemonArgs: []string{"--http-listen", "127.0.0.1:9765"}})
	a := addPod(t, n.Node, "a")
	if code, body := httpGet(t, n.Node, "http://127.0.0.1:9765/healthz"); code != 200 || !strings.HasPrefix(body, "ok") {
		t.Errorf("/healthz: %d %q", code, body)
	}
	code, body := httpGet(t, n.Node, "http://127.0.0.1:9765/metrics")
	for _, want := range []string{"podint_kernel_packets_total", "podint_kernel_ringbuf_full_total 0", "podint_probes 1",
		"podint_ringbuf_size_bytes", `podint_reports_sent_total{collector="` + n.Collector.Addr() + `"}`,
		`podint_bpf_run_count_total{program="ingress"}`} {
		if !strings.Contains(body, want) {
			t.Errorf("/metrics (%d) lacks %q", code, want)
		}
	}
	code, body = httpGet(t, n.Node, "http://127.0.0.1:9765/api/v1/topology")
	if code != 200 || !strings.Contains(body, `"pod-name": "a"`) || !strings.Contains(body, `"is-node-iface": false`) ||
		!strings.Contains(body, `"id": `+itoa(vethIndex(t, a))) {
		t.Errorf("/api/v1/topology: %d\n%s", code, body)
	}
}

// The --config file's collectors reload without a restart; a broken change
// is rejected and the settings in force stay.
func TestConfigFileReloads(t *testing.T) {
	var file, first string
	n := startDaemonNode(t, harness.NodeConfig{}, func(n *harness.Node) []string {
		// The collector comes from the file alone: a --collector flag would
		// win over the file.
		first, n.Config.Collectors = n.Config.Collectors[0], nil
		file = filepath.Join(n.Paths.Root, "podintd.yaml")
		if err := os.WriteFile(file, []byte("collector: ["+first+"]\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		return []string{"--config", file}
	})
	ctx := testContext(t)
	a, b := addPod(t, n.Node, "a"), addPod(t, n.Node, "b")
	second, err := harness.NewCollector(n.NS)
	if err != nil {
		t.Fatal(err)
	}
	defer second.Close()

	if err := os.WriteFile(file, []byte("collector: ["+first+", "+second.Addr()+"]\nreport-interval: often\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	waitCounter(t, ctx, n.Node, "config_rejected", 1)
	if !strings.Contains(n.DaemonLog(), "report-interval") {
		t.Errorf("the rejection does not name the setting:\n%s", n.DaemonLog())
	}
	if got := counter(t, ctx, n.Node, "config_reloads"); got != 0 {
		t.Errorf("config_reloads %d after a rejected change, want 0: nothing of it may be in force", got)
	}
	sport := echoTCP(t, a, b, 7100)
	expectFlowReport(t, ctx, n.Collector, intreport.ProtoTCP, a.IP, b.IP, sport, 7100, vethIndex(t, a), vethIndex(t, b))

	if err := os.WriteFile(file, []byte("collector: ["+first+", "+second.Addr()+"]\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	waitCounter(t, ctx, n.Node, "config_reloads", 1)
	sport = echoTCP(t, a, b, 7101)
	for _, col := range []*harness.Collector{n.Collector, second} {
		expectFlowReport(t, ctx, col, intreport.ProtoTCP, a.IP, b.IP, sport, 7101, vethIndex(t, a), vethIndex(t, b))
	}
}

// A setting with an invalid value stops the start with a message naming it.
func TestInvalidSettingStopsTheStart(t *testing.T) {
	n := newBareNode(t, harness.NodeConfig{})
	file := filepath.Join(n.Paths.Root, "podintd.yaml")
	if err := os.WriteFile(file, []byte("snap-len: 128\nreport-format: v3\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	n.Config.DaemonArgs = []string{"--config", file}
	err := n.StartDaemon(testContext(t))
	if err == nil || !strings.Contains(err.Error(), "report-format") || !strings.Contains(err.Error(), "v3") {
		t.Fatalf("start with report-format v3: %v; want an exit naming the setting and the value", err)
	}
}

// SIGTERM leaves the probes running (they are the pods'); with
// --detach-on-exit it removes them, the drop probe and the CPU port too.
func TestSIGTERMLeavesProbesUnlessDetachOnExit(t *testing.T) {
	for _, detach := range []bool{false, true} {
		name := "leave"
		var args []string
		if detach {
			name, args = "detach", []string{"--detach-on-exit"}
		}
		t.Run(name, func(t *testing.T) {
			n := startNode(t, harness.NodeConfig{DaemonArgs: args})
			a := addPod(t, n.Node, "a")
			ia := vethIndex(t, a)
			if err := n.StopDaemon(syscall.SIGTERM); err != nil {
				t.Fatal(err)
			}
			in, eg, err := n.TCXPrograms(ia)
			if err != nil {
				t.Fatal(err)
			}
			_, pinErr := os.Stat(pins.LinkDir(n.Paths.PinDir, podProbeID(a)))
			_, dropsErr := os.Stat(filepath.Join(n.Paths.PinDir, "drops_link"))
			_, cpuErr := os.Stat(filepath.Join(n.Paths.PinDir, "cpu_in4_link"))
			if detach && (in+eg != 0 || pinErr == nil || dropsErr == nil || cpuErr == nil) {
				t.Errorf("--detach-on-exit left %d+%d programs, pins %v, drop probe %v, CPU port %v", in, eg, pinErr, dropsErr, cpuErr)
			}
			if !detach && (in != 1 || eg != 1 || pinErr != nil || dropsErr != nil || cpuErr != nil) {
				t.Errorf("SIGTERM left %d+%d programs (want 1+1), pins %v, drop probe %v, CPU port %v", in, eg, pinErr, dropsErr, cpuErr)
			}
		})
	}
}
