package demo

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/podint/podint/test/harness"
)

// The demo without a terminal prints every report it counts: each node's
// sequence numbers from 1 with no gap, as many lines as the summary's
// report count, no drop of reason 0; then the summary under a heading,
// with the loss counters; then the cluster view: podint-collector's paths,
// among them the client's traffic to the database across the nodes, one
// path with both pods named and both nodes' hops.
func TestDemoPipeModePrintsEveryReport(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root (network namespaces, bpffs, TCX)")
	}
	bin := t.TempDir()
	if err := harness.Build(bin); err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	err := Run(ctx, Options{BinDir: bin, Duration: 6 * time.Second, Out: &out, DotPath: filepath.Join(t.TempDir(), "topology.dot"),
		ClusterView: true})
	if err != nil {
		t.Fatalf("demo: %v\n%s", err, out.String())
	}
	text := out.String()
	head, summary, ok := strings.Cut(text, "\nSUMMARY after ")
	if !ok {
		t.Fatalf("no SUMMARY heading:\n%s", text)
	}
	line := regexp.MustCompile(`(?m)^(?:flow|drop) .* switch (\S+) .* seq (\d+)(?: \(.*\))?$`)
	seqs := map[string][]int{}
	for _, m := range line.FindAllStringSubmatch(head, -1) {
		n, _ := strconv.Atoi(m[2])
		seqs[m[1]] = append(seqs[m[1]], n)
	}
	if len(seqs) != 2 {
		t.Fatalf("reports of %d switches, want both nodes':\n%s", len(seqs), head)
	}
	printed := 0
	for sw, s := range seqs {
		printed += len(s)
		seen := map[int]bool{}
		for _, n := range s {
			seen[n] = true
		}
		for n := 1; n <= len(s); n++ {
			if !seen[n] {
				t.Errorf("switch %s: report seq %d not printed (%d printed)", sw, n, len(s))
				break
			}
		}
	}
	// Drop reports mean drops: the pod-start IPv6 multicast frees the kernel
	// makes with no reason (reported as reason 0) are not among them.
	if zero := regexp.MustCompile(`(?m)^drop .* reason 0\b.*$`).FindAllString(head, -1); len(zero) > 0 {
		t.Errorf("%d drop reports with reason 0 (unknown), e.g. %s", len(zero), zero[0])
	}
	m := regexp.MustCompile(`(\d+) datagrams, (\d+) reports`).FindStringSubmatch(summary)
	if m == nil {
		t.Fatalf("summary without its counts:\n%s", summary)
	}
	if counted, _ := strconv.Atoi(m[2]); counted != printed {
		t.Errorf("printed %d report lines, the summary counts %d", printed, counted)
	}
	for _, want := range []string{"LOSS COUNTERS", "kernel_ringbuf_full=", "datagram_send_errors="} {
		if !strings.Contains(summary, want) {
			t.Errorf("summary lacks %q:\n%s", want, summary)
		}
	}
	_, view, ok := strings.Cut(summary, "CLUSTER VIEW")
	if !ok {
		t.Fatalf("no CLUSTER VIEW:\n%s", summary)
	}
	// INTERVAL PROTO SOURCE DESTINATION LATENCY REPORTS DROPS ROUTE, the
	// route one hop per node: node-1[in>out] -> node-2[in>out].
	crossNode := regexp.MustCompile(`(?m)^\S+\s+tcp\s+default/client\s+default/db\s+.*\s(\S+)\[\d+>\d+\] -> (\S+)\[\d+>\d+\]\s*$`)
	m = crossNode.FindStringSubmatch(view)
	if m == nil {
		t.Fatalf("the cluster view has no path default/client -> default/db across both nodes:\n%s", view)
	}
	if m[1] == m[2] {
		t.Errorf("the client's path to the database has both hops on %s, want one per node:\n%s", m[1], view)
	}
}
