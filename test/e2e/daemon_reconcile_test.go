package e2e

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/podint/podint/bpf/attach"
	"github.com/podint/podint/bpf/pins"
	"github.com/podint/podint/internal/intreport"
	podintv1 "github.com/podint/podint/proto/podint/v1"
	"github.com/podint/podint/test/harness"
)

// Pods added and removed while podintd was down are set right when it
// starts: a pod added meanwhile is registered again from the plugin's
// pending registration, else the runtime's CNI result cache, else the
// kernel's view of its veth; a pod deleted meanwhile is forgotten; a probe
// whose veth vanished loses its pins.
func TestStartReconcilesPodsChangedWhileDown(t *testing.T) {
	n := startDaemonNode(t, harness.NodeConfig{}, func(n *harness.Node) []string {
		return []string{"--cni-cache-dir", n.CNICacheDir()}
	})
	ctx := testContext(t)
	keep, deleted, vanished := addPod(t, n.Node, "keep"), addPod(t, n.Node, "deleted"), addPod(t, n.Node, "vanished")
	vanishedVeth, err := vanished.HostVeth()
	if err != nil {
		t.Fatal(err)
	}

	if err := n.StopDaemon(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	// While podintd is down:
	if err := n.CNIDel(ctx, deleted); err != nil { // DEL cannot unregister
		t.Fatal(err)
	}
	if err := n.DeleteLink(vanishedVeth.Attrs().Name); err != nil { // the veth goes, the pins stay
		t.Fatal(err)
	}
	pending := addPod(t, n.Node, "pending") // ADD leaves a pending registration
	cached := addPod(t, n.Node, "cached")   // ... gone: the CNI result cache is left
	if err := os.Remove(pendingPath(n.Node, cached)); err != nil {
		t.Fatal(err)
	}
	scanned := addPod(t, n.Node, "scanned") // ... and without a cache entry: only the veth is left
	if err := os.Remove(pendingPath(n.Node, scanned)); err != nil {
		t.Fatal(err)
	}
	removeCacheEntry(t, n.Node, scanned)

	if err := n.StartDaemon(ctx); err != nil {
		t.Fatal(err)
	}
	c := client(t, n.Node)
	byContainer := map[string]*podintv1.Probe{}
	for _, p := range listProbes(t, ctx, c) {
		byContainer[p.GetPod().GetContainerId()] = p
	}
	if len(byContainer) != 4 {
		t.Errorf("%d probes after the start, want keep, pending, cached and scanned: %v", len(byContainer), byContainer)
	}
	for _, p := range []*harness.Pod{deleted, vanished} {
		if reg := byContainer[p.ContainerID]; reg != nil {
			t.Errorf("pod %s, gone while podintd was down, is still registered: %v", p.Name, reg)
		}
	}
	if _, err := os.Stat(pins.LinkDir(n.Paths.PinDir, podProbeID(vanished))); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the pins of the probe whose veth vanished remain (%v)", err)
	}
	for _, p := range []*harness.Pod{keep, pending, cached, scanned} {
		reg := byContainer[p.ContainerID]
		if reg == nil {
			t.Errorf("pod %s not registered after the start", p.Name)
			continue
		}
		if int(reg.GetIfindex()) != vethIndex(t, p) || reg.GetPod().GetInterface() != harness.PodIfName {
			t.Errorf("pod %s registered as ifindex %d interface %q, want its veth %d and %s",
				p.Name, reg.GetIfindex(), reg.GetPod().GetInterface(), vethIndex(t, p), harness.PodIfName)
		}
		expectProbe(t, n.Node, p, vethIndex(t, p), attach.TCX)
		if p == scanned {
			continue // the kernel does not know the pod's name or addresses
		}
		pod := reg.GetPod()
		if pod.GetName() != p.Name || pod.GetUid() != p.UID || len(pod.GetIps()) != 1 ||
			!strings.HasPrefix(pod.GetIps()[0].GetAddress(), p.IP.String()+"/") || pod.GetIps()[0].GetSubnet() != "10.22.0.0/24" {
			t.Errorf("pod %s registered as %v, want its name, uid, address and subnet", p.Name, pod)
		}
	}
	if ents, _ := os.ReadDir(filepath.Join(n.Paths.StateDir, "pending")); len(ents) != 0 {
		t.Errorf("pending registrations remain after the start: %v", ents)
	}
	if got := counter(t, ctx, n.Node, "probes_reregistered"); got != 3 {
		t.Errorf("probes_reregistered %d, want 3 (pending, cached, scanned)", got)
	}

	// The adopted probes report: a flow from a pod added while the daemon
	// was down to one that stayed.
	sport := echoTCP(t, pending, keep, 7070)
	expectFlowReport(t, ctx, n.Collector, intreport.ProtoTCP, pending.IP, keep.IP, sport, 7070,
		vethIndex(t, pending), vethIndex(t, keep))
}

// removeCacheEntry deletes the CNI result cache entry of p, as if the
// runtime never wrote one.
func removeCacheEntry(t *testing.T, n *harness.Node, p *harness.Pod) {
	t.Helper()
	files, _ := filepath.Glob(filepath.Join(n.CNICacheDir(), "results", "*"+p.ContainerID+"*"))
	if len(files) == 0 {
		t.Fatalf("no CNI cache entry for pod %s under %s", p.Name, n.CNICacheDir())
	}
	for _, f := range files {
		if err := os.Remove(f); err != nil {
			t.Fatal(err)
		}
	}
}
