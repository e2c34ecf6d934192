package e2e

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cilium/ebpf"

	"github.com/podint/podint/bpf/attach"
	"github.com/podint/podint/test/harness"
)

// rssKiB reads a process's resident set size.
func rssKiB(t *testing.T, pid int) int {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range strings.Split(string(b), "\n") {
		if f := strings.Fields(l); len(f) >= 2 && f[0] == "VmRSS:" {
			v, _ := strconv.Atoi(f[1])
			return v
		}
	}
	t.Fatal("no VmRSS")
	return 0
}

func churn(t *testing.T, ctx context.Context, n *harness.Node, cycles, parallel int) {
	t.Helper()
	var wg sync.WaitGroup
	errs := make(chan error, cycles)
	sem := make(chan struct{}, parallel)
	for i := 0; i < cycles; i++ {
		wg.Add(1)
		sem <- struct{}{}
		go func(i int) {
			defer wg.Done()
			defer func() { <-sem }()
			p, err := n.AddPod(ctx, fmt.Sprintf("c%d", i))
			if err != nil {
				errs <- err
				return
			}
			if err := n.DelPod(ctx, p); err != nil {
				errs <- err
			}
		}(i)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatalf("churn: %v", err)
	}
}

// TestPodChurnLeavesNothingBehind runs 500 ADD/DEL cycles, 20 at a time:
// no ADD fails, and afterwards no probe link, pin, registration, ports or
// pod_ports map entry or state file is left, and the daemon's memory does not grow with
// the cycles (measured after a warm-up).
func TestPodChurnLeavesNothingBehind(t *testing.T) {
	n := startNode(t, harness.NodeConfig{})
	// 500 cycles take about 1.5 min on a 2-CPU machine under load: a
	// budget against hangs, not a speed limit (a busy machine ran out of
	// testContext's 2 min).
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
	defer cancel()
	churn(t, ctx, n.Node, 100, 20) // warm-up: caches, pools, gRPC buffers
	before := rssKiB(t, n.DaemonPID())
	churn(t, ctx, n.Node, 400, 20)
	after := rssKiB(t, n.DaemonPID())

	if ids, err := attach.AttachedProbes(n.Paths.PinDir); err != nil || len(ids) != 0 {
		t.Errorf("pinned probes left: %v (err %v)", ids, err)
	}
	c, closeFn, err := n.Client()
	if err != nil {
		t.Fatal(err)
	}
	defer closeFn()
	if ps := listProbes(t, ctx, c); len(ps) != 0 {
		t.Errorf("%d registrations left", len(ps))
	}
	ports, err := ebpf.LoadPinnedMap(filepath.Join(n.Paths.PinDir, "maps/ports"), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer ports.Close()
	var k, v uint32
	left := 0
	for it := ports.Iterate(); it.Next(&k, &v); {
		left++
	}
	if left != 0 {
		t.Errorf("%d ports map entries left", left)
	}
	if pp, err := attach.PodPorts(n.Paths.PinDir); err != nil || len(pp) != 0 {
		t.Errorf("pod_ports entries left: %v (err %v)", pp, err)
	}
	for _, dir := range []string{filepath.Join(n.Paths.StateDir, "probes"), n.CNICacheDir()} {
		var files []string
		filepath.WalkDir(dir, func(path string, d os.DirEntry, err error) error {
			if err == nil && !d.IsDir() {
				files = append(files, path)
			}
			return nil
		})
		if len(files) != 0 {
			t.Errorf("files left under %s: %v", dir, files)
		}
	}
	// Go returns memory to the OS lazily: allow a margin, but 400 more pods
	// must not cost what 400 leaked registrations and connections would.
	if after > before+8*1024 {
		t.Errorf("daemon RSS grew from %d KiB to %d KiB over 400 cycles", before, after)
	}
	t.Logf("daemon RSS %d KiB after warm-up, %d KiB after 400 more cycles", before, after)
}
