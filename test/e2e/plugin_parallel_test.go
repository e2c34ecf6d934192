package e2e

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vishvananda/netlink"

	"github.com/podint/podint/bpf/attach"
	"github.com/podint/podint/test/harness"
)

const parallelPods = 50

// 50 pods added and then deleted all at once through libcni, as a node
// starting a deployment does: every ADD succeeds, every probe is attached
// and registered, and once they are deleted nothing is left: no pins, hooks,
// registrations, pending files, cached results, addresses or interfaces.
func TestFiftyPodsAddedAndDeletedInParallel(t *testing.T) {
	for _, mode := range []attach.Mode{attach.TCX, attach.TC} {
		t.Run(string(mode), func(t *testing.T) {
			n := startNode(t, harness.NodeConfig{PodintConf: map[string]any{"attachMode": mode}})
			ctx := testContext(t)
			pods := make([]*harness.Pod, parallelPods)
			for i := range pods {
				p, err := n.NewPod(fmt.Sprintf("p%d", i))
				if err != nil {
					t.Fatal(err)
				}
				pods[i] = p
				t.Cleanup(func() { p.NS.Delete() })
			}

			start := time.Now()
			if err := inParallel(pods, func(p *harness.Pod) error { return n.CNIAdd(ctx, p) }); err != nil {
				t.Fatalf("parallel ADD: %v", err)
			}
			t.Logf("%d parallel ADDs (%s) took %s", parallelPods, mode, time.Since(start))
			if ids, _ := attach.AttachedProbes(n.Paths.PinDir); len(ids) != parallelPods {
				t.Errorf("%d probes pinned, want %d", len(ids), parallelPods)
			}
			if got := registeredContainers(t, n.Node); len(got) != parallelPods {
				t.Errorf("%d registrations, want %d", len(got), parallelPods)
			}
			for _, p := range pods {
				expectProbe(t, n.Node, p, vethIndex(t, p), mode)
			}

			start = time.Now()
			if err := inParallel(pods, func(p *harness.Pod) error { return n.CNIDel(context.Background(), p) }); err != nil {
				t.Errorf("parallel DEL: %v", err)
			}
			t.Logf("%d parallel DELs (%s) took %s", parallelPods, mode, time.Since(start))
			expectNodeClean(t, n.Node)
		})
	}
}

func inParallel(pods []*harness.Pod, fn func(*harness.Pod) error) error {
	var wg sync.WaitGroup
	errs := make([]error, len(pods))
	for i, p := range pods {
		wg.Go(func() { errs[i] = fn(p) })
	}
	wg.Wait()
	var failed []string
	for i, err := range errs {
		if err != nil {
			failed = append(failed, fmt.Sprintf("%s: %v", pods[i].Name, err))
		}
	}
	if len(failed) > 0 {
		return fmt.Errorf("%d of %d failed:\n%s", len(failed), len(pods), strings.Join(failed, "\n"))
	}
	return nil
}

// expectNodeClean checks that no pod left anything in the node.
func expectNodeClean(t *testing.T, n *harness.Node) {
	t.Helper()
	if ids, err := attach.AttachedProbes(n.Paths.PinDir); err != nil || len(ids) != 0 {
		t.Errorf("pinned probes left: %v (%v)", ids, err)
	}
	if got := registeredContainers(t, n); len(got) != 0 {
		t.Errorf("registrations left: %v", got)
	}
	for dir, keep := range map[string][]string{
		filepath.Join(n.Paths.StateDir, "probes"):   nil, // the daemon's saved registrations
		n.Paths.PendingDir:                          nil,
		filepath.Join(n.CNICacheDir(), "results"):   nil,
		filepath.Join(n.IPAMDir(), n.ConfList.Name): {"lock", "last_reserved_ip.0"},
	} {
		ents, err := os.ReadDir(dir)
		if keep != nil && err != nil {
			t.Errorf("%s: %v; without it the check proves nothing", dir, err)
		}
		for _, e := range ents {
			if !slices.Contains(keep, e.Name()) {
				t.Errorf("%s left in %s", e.Name(), dir)
			}
		}
	}
	var links []string
	err := n.NS.Do(func() error {
		ls, err := netlink.LinkList()
		for _, l := range ls {
			if l.Attrs().Name != "lo" && l.Attrs().Name != n.BridgeName() {
				links = append(links, l.Attrs().Name)
			}
		}
		return err
	})
	if err != nil || len(links) != 0 {
		t.Errorf("interfaces left in the node: %v (%v)", links, err)
	}
}
