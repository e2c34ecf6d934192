package e2e

import (
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/podint/podint/test/harness"
)

// A collector whose name does not resolve (cluster DNS not up yet, a typo)
// does not stop podintd: it says so in its log, and podintctl health and
// /healthz name the collector (degraded, not ok) while reports still go to
// the collectors that work.
func TestUnresolvableCollectorShowsInHealth(t *testing.T) {
	n := startNode(t, harness.NodeConfig{
		Collectors: []string{"notanaddress"},
		DaemonArgs: []string{"--http-listen", "127.0.0.1:9766"},
	})
	want := "collector notanaddress does not resolve"
	var health string
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		out, err := exec.Command(filepath.Join(binDir, "podintctl"), "--root", n.Paths.Root, "health").CombinedOutput()
		health = string(out)
		if err != nil {
			t.Fatalf("podintctl health failed (a collector that does not resolve is not a broken daemon): %v\n%s", err, out)
		}
		if strings.Contains(health, want) || time.Now().After(deadline) {
			break
		}
	}
	if !strings.HasPrefix(health, "warning: "+want) || !strings.HasSuffix(health, "degraded\n") {
		t.Errorf("podintctl health:\n%s\nwant the warning %q and degraded", health, want)
	}
	code, body := httpGet(t, n.Node, "http://127.0.0.1:9766/healthz")
	if code != 200 || !strings.HasPrefix(body, "degraded\n") || !strings.Contains(body, want) {
		t.Errorf("/healthz: %d %q; want 200, degraded and %q", code, body, want)
	}
	if log := n.DaemonLog(); !strings.Contains(log, "does not resolve") || !strings.Contains(log, "collector=notanaddress") {
		t.Errorf("podintd did not log the unresolved collector:\n%s", log)
	}
	// The working collector still gets reports.
	a, b := addPod(t, n.Node, "a"), addPod(t, n.Node, "b")
	va, _ := a.HostVeth()
	vb, _ := b.HostVeth()
	port := echoTCP(t, a, b, 8080)
	expectFlowReport(t, testContext(t), n.Collector, 6, a.IP, b.IP, port, 8080, va.Attrs().Index, vb.Attrs().Index)
}
