package httpapi

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/podint/podint/daemon/metrics"
	"github.com/podint/podint/internal/topology"
	podintv1 "github.com/podint/podint/proto/podint/v1"
)

func server(t *testing.T, health *podintv1.HealthResponse) *httptest.Server {
	t.Helper()
	stats := func() []*podintv1.Counter {
		return []*podintv1.Counter{
			{Name: "kernel_ringbuf_full", Help: "events lost because the ring buffer was full", Value: 3},
			{Name: "reports_sent", Help: "reports sent", Value: 10, Labels: map[string]string{"collector": "10.0.0.5:32766"}},
			{Name: "reports_sent", Help: "reports sent", Value: 4, Labels: map[string]string{"collector": "10.0.0.6:32766"}},
			{Name: "ringbuf_pending_bytes", Help: "bytes waiting", Value: 128, Gauge: true},
		}
	}
	topo := func() *podintv1.TopologyResponse {
		return &podintv1.TopologyResponse{Node: &podintv1.Node{Name: "n1", SwitchId: 1, SwitchIp: "0.0.0.1"},
			Ports: []*podintv1.Probe{{Ifindex: 5, HostInterface: "veth5", Kind: podintv1.PortKind_PORT_KIND_POD,
				Pod: &podintv1.Pod{Namespace: "default", Name: "a"}}}}
	}
	s := httptest.NewServer(Handler(Source{Health: func() *podintv1.HealthResponse { return health },
		Topology: topo, Metrics: metrics.NewRegistry(stats)}))
	t.Cleanup(s.Close)
	return s
}

func get(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func TestHealthz(t *testing.T) {
	ok := server(t, &podintv1.HealthResponse{Ok: true, Warnings: []string{"collector down"}})
	if code, body := get(t, ok.URL+"/healthz"); code != 200 || !strings.HasPrefix(body, "degraded\n") || !strings.Contains(body, "warning: collector down") {
		t.Errorf("daemon with a warning: %d %q; want 200, degraded and the warning", code, body)
	}
	fine := server(t, &podintv1.HealthResponse{Ok: true})
	if code, body := get(t, fine.URL+"/healthz"); code != 200 || body != "ok\n" {
		t.Errorf("healthy daemon: %d %q; want 200 ok", code, body)
	}
	bad := server(t, &podintv1.HealthResponse{Ok: false, Problems: []string{"ring buffer reader stopped"}})
	if code, body := get(t, bad.URL+"/healthz"); code != 503 || !strings.Contains(body, "ring buffer reader stopped") {
		t.Errorf("unhealthy daemon: %d %q; want 503 and the problem", code, body)
	}
}

func TestMetricsReadTheStats(t *testing.T) {
	s := server(t, &podintv1.HealthResponse{Ok: true})
	code, body := get(t, s.URL+"/metrics")
	if code != 200 {
		t.Fatalf("/metrics: %d", code)
	}
	for _, want := range []string{
		"# TYPE podint_kernel_ringbuf_full_total counter",
		"podint_kernel_ringbuf_full_total 3",
		`podint_reports_sent_total{collector="10.0.0.5:32766"} 10`,
		`podint_reports_sent_total{collector="10.0.0.6:32766"} 4`,
		"# TYPE podint_ringbuf_pending_bytes gauge",
		"podint_ringbuf_pending_bytes 128",
		"go_memstats_heap_alloc_bytes",
		"podint_process_resident_memory_bytes",
	} {
		if !strings.Contains(body, want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
}

func TestTopologyAndMethods(t *testing.T) {
	s := server(t, &podintv1.HealthResponse{Ok: true})
	code, body := get(t, s.URL+"/api/v1/topology")
	var doc struct {
		Links []struct {
			ID      int    `json:"id"`
			PodName string `json:"pod-name"`
		} `json:"links"`
	}
	if err := json.Unmarshal([]byte(body), &doc); code != 200 || err != nil || len(doc.Links) != 1 || doc.Links[0].ID != 5 || doc.Links[0].PodName != "a" {
		t.Errorf("/api/v1/topology: %d %v %s", code, err, body)
	}
	resp, err := http.Post(s.URL+"/api/v1/topology", "application/json", strings.NewReader("{}"))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("POST: %d, want 405: the listener is read-only", resp.StatusCode)
	}
}

func TestTopologyRequiresTheBearerToken(t *testing.T) {
	tokenFile := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(tokenFile, []byte("s3cret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	s := httptest.NewServer(Handler(Source{Health: func() *podintv1.HealthResponse { return &podintv1.HealthResponse{Ok: true} },
		Topology: func() *podintv1.TopologyResponse { return &podintv1.TopologyResponse{} }, Metrics: metrics.NewRegistry(nil),
		Translations: func() topology.Translations {
			return topology.Translations{Node: "n1", Connections: []topology.Translation{{ID: 7, Proto: 6,
				Src: "10.22.1.2:40000", Dst: "10.22.1.3:8080", Client: "10.22.1.2:40000", Service: "10.96.0.10:80"}}}
		},
		TokenFile: tokenFile}))
	defer s.Close()
	// The NATed connections are as private as the pods: the same token.
	for _, path := range []string{"/api/v1/topology", topology.TranslationsPath} {
		for token, want := range map[string]int{"": 401, "wrong": 401, "s3cret": 200} {
			req, _ := http.NewRequest(http.MethodGet, s.URL+path, nil)
			if token != "" {
				req.Header.Set("Authorization", "Bearer "+token)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			var tr topology.Translations
			if path == topology.TranslationsPath && want == 200 {
				if err := json.NewDecoder(resp.Body).Decode(&tr); err != nil || len(tr.Connections) != 1 || tr.Connections[0].Service != "10.96.0.10:80" {
					t.Errorf("%s: %v %+v, want the one connection to 10.96.0.10:80", path, err, tr)
				}
			}
			resp.Body.Close()
			if resp.StatusCode != want {
				t.Errorf("%s with token %q: %d, want %d", path, token, resp.StatusCode, want)
			}
		}
	}
	// Kubelet probes carry no token: /healthz stays open.
	if code, _ := get(t, s.URL+"/healthz"); code != 200 {
		t.Errorf("/healthz without a token: %d", code)
	}
}
