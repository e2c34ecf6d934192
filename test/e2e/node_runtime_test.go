package e2e

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/vishvananda/netlink"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/podint/podint/bpf"
	podintv1 "github.com/podint/podint/proto/podint/v1"
	"github.com/podint/podint/test/cri"
	"github.com/podint/podint/test/harness"
)

// runtimeNode is a node whose pods a real container runtime creates:
// containerd through its CRI, with podint installed by the chart's
// DaemonSet pod template, run from the image built offline.
type runtimeNode struct {
	*harness.Node
	Containerd *cri.Containerd
	CRI        *cri.Client
	Kubelet    *cri.Kubelet
	Manifest   *cri.Manifest
	Collector  *harness.Collector
	HostDir    string // the node's host filesystem
	ConfPath   string // the primary CNI's conflist, the file containerd reads
	work       string // image builds
}

// The chart's default collector: the node itself.
const chartCollector = "127.0.0.1:32766"

// newRuntimeNode starts containerd in a new node with the primary CNI
// (bridge + host-local) configured and the images imported; podint is not
// installed yet.
func newRuntimeNode(t *testing.T) *runtimeNode {
	t.Helper()
	ctx := testContext(t)
	n := newIdleNode(t, harness.NodeConfig{Name: "cri", BPFFS: "none", SwitchID: "10.0.0.1",
		// containerd 1.6 (Debian 12) speaks CNI up to 1.0.0.
		CNIVersion: "1.0.0"})
	rn := &runtimeNode{Node: n, HostDir: n.Paths.Root}
	root, err := harness.ModuleRoot()
	if err != nil {
		t.Fatal(err)
	}
	if rn.Manifest, err = cri.ReadManifest(filepath.Join(root, "deployments/kubernetes/podint.yaml")); err != nil {
		t.Fatal(err)
	}
	if rn.Collector, err = harness.NewCollectorOn(n.NS, chartCollector); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { rn.Collector.Close() })

	// The primary CNI, as the cluster's network add-on leaves it.
	if err := os.MkdirAll(filepath.Join(rn.HostDir, "opt/cni/bin"), 0o755); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{"bridge", "host-local", "loopback", "portmap"} {
		copyFile(t, filepath.Join(binDir, p), filepath.Join(rn.HostDir, "opt/cni/bin", p), 0o755)
	}
	rn.ConfPath = filepath.Join(rn.HostDir, "etc/cni/net.d/10-bridge.conflist")
	if err := os.MkdirAll(filepath.Dir(rn.ConfPath), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(rn.ConfPath, n.PrimaryConfList(), 0o644); err != nil {
		t.Fatal(err)
	}

	if rn.Containerd, err = cri.StartContainerd(ctx, n.NS, t.TempDir(), rn.HostDir); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { rn.Containerd.Close() })
	if rn.CRI, err = cri.Dial(rn.Containerd.Socket); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("containerd log:\n%s", tail(rn.Containerd.Log(), 60))
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if err := rn.CRI.RemoveAll(ctx); err != nil {
			t.Errorf("remove pods: %v", err)
		}
		rn.CRI.Close()
	})
	rn.Kubelet = &cri.Kubelet{CRI: rn.CRI, HostDir: rn.HostDir, NodeName: "worker-cri", NodeIP: "10.0.0.1"}

	rn.work = t.TempDir()
	rn.image(t, ctx, cri.PauseLayout, cri.SandboxImage)
	rn.image(t, ctx, cri.PodintLayout, rn.Manifest.Pod.Containers[0].Image)
	return rn
}

// image builds an image offline and imports it into containerd.
func (rn *runtimeNode) image(t *testing.T, ctx context.Context, layout cri.ImageLayout, ref string) {
	t.Helper()
	archive := filepath.Join(rn.work, strings.NewReplacer("/", "_", ":", "_").Replace(ref)+".tar")
	if err := cri.BuildImage(ctx, layout, binDir, filepath.Join(rn.work, "buildah"), ref, archive); err != nil {
		t.Fatal(err)
	}
	if err := rn.Containerd.Import(ctx, archive); err != nil {
		t.Fatal(err)
	}
}

// install runs the DaemonSet's pod and waits until podintd serves its API
// and install-cni has chained podint into the conflist.
func (rn *runtimeNode) install(t *testing.T, ctx context.Context) *cri.DaemonPod {
	t.Helper()
	p, err := rn.Kubelet.RunDaemonPod(ctx, rn.Manifest, "podint-x7k2p", "3f1c6a52-0d3e-4c55-9a7e-6f0b1c2d3e4f")
	if p != nil {
		t.Cleanup(func() {
			if t.Failed() {
				for _, c := range []string{"mount-bpffs", "podintd", "install-cni"} {
					t.Logf("%s log:\n%s", c, tail(rn.Kubelet.Logs(p, c), 40))
				}
			}
		})
	}
	if err != nil {
		t.Fatal(err)
	}
	for c, caps := range rn.Kubelet.Withheld {
		t.Logf("container %s runs without %v: outside this machine's capability bounding set", c, caps)
	}
	if err := waitServing(ctx, rn.Paths.Socket, nil); err != nil {
		t.Fatal(err)
	}
	for !bytes.Contains(readFile(t, rn.ConfPath), []byte(`"podint"`)) {
		select {
		case <-ctx.Done():
			t.Fatalf("install-cni did not chain podint into %s:\n%s", rn.ConfPath, readFile(t, rn.ConfPath))
		case <-time.After(100 * time.Millisecond):
		}
	}
	return p
}

// runPod creates a pod through the CRI, as the kubelet does for a pod
// scheduled to the node.
func (rn *runtimeNode) runPod(t *testing.T, ctx context.Context, namespace, name string) *harness.Pod {
	t.Helper()
	uid := fmt.Sprintf("%s-%s-%d", namespace, name, time.Now().UnixNano())
	sb, err := rn.CRI.RunPodSandbox(ctx, cri.PodMeta{Name: name, Namespace: namespace, UID: uid,
		LogDir: filepath.Join(rn.HostDir, "var/log/pods", namespace+"_"+name+"_"+uid)})
	if err != nil {
		t.Fatal(err)
	}
	ip, err := rn.CRI.PodIP(ctx, sb.ID)
	if err != nil {
		t.Fatal(err)
	}
	nsPath, err := rn.CRI.NetNSPath(ctx, sb.ID)
	if err != nil {
		t.Fatal(err)
	}
	addr, err := netip.ParseAddr(ip)
	if err != nil {
		t.Fatalf("pod %s/%s: IP %q from the runtime: %v", namespace, name, ip, err)
	}
	return rn.RuntimePod(name, sb.ID, nsPath, addr)
}

// podint as users run it, on a node whose pods containerd creates: the
// DaemonSet's pod (as the chart renders it) copies the plugin and chains
// podint into the runtime's conflist; pods created afterwards get probes
// that name them, and their traffic becomes INT reports at the collector.
// Then, on the same node: podintd killed and restarted, pod churn through
// the runtime, and the chart's uninstall.
func TestRuntimeNode(t *testing.T) {
	rn := newRuntimeNode(t)
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
	defer cancel()
	primary := readFile(t, rn.ConfPath)
	before := rn.runPod(t, ctx, "default", "before-install")
	dp := rn.install(t, ctx)

	a := rn.runPod(t, ctx, "shop", "web-0")
	b := rn.runPod(t, ctx, "shop", "db-0")
	ok := t.Run("install", func(t *testing.T) {
		if !bytes.Equal(readFile(t, filepath.Join(rn.HostDir, "opt/cni/bin/podint")), readFile(t, filepath.Join(binDir, "podint"))) {
			t.Error("the plugin in the node's CNI bin dir is not the image's")
		}
		probes := rn.probes(t, ctx)
		for _, p := range []*harness.Pod{a, b} {
			pr := probes[p.ContainerID]
			if pr == nil {
				t.Fatalf("pod shop/%s (sandbox %s) has no probe; probes: %v", p.Name, p.ContainerID, probes)
			}
			if pr.GetPod().GetNamespace() != "shop" || pr.GetPod().GetName() != p.Name {
				t.Errorf("probe of sandbox %s names pod %s/%s, want shop/%s", p.ContainerID, pr.GetPod().GetNamespace(), pr.GetPod().GetName(), p.Name)
			}
		}
		if probes[before.ContainerID] != nil {
			t.Error("the pod created before podint was installed has a probe")
		}
		port := echoTCP(t, a, b, 8080)
		expectFlowReport(t, ctx, rn.Collector, 6, a.IP, b.IP, port, 8080, vethIndex(t, a), vethIndex(t, b))
	})
	if !ok {
		return
	}

	t.Run("restart", func(t *testing.T) {
		// podintd crashes (SIGKILL); a pod is created while it is down; the
		// kubelet starts the container again.
		pid, err := rn.CRI.ContainerPID(ctx, dp.Containers["podintd"])
		if err != nil {
			t.Fatal(err)
		}
		if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		for {
			state, _, err := rn.CRI.ContainerState(ctx, dp.Containers["podintd"])
			if err != nil {
				t.Fatal(err)
			}
			if state == runtimeapi.ContainerState_CONTAINER_EXITED {
				break
			}
			time.Sleep(50 * time.Millisecond)
		}
		c := rn.runPod(t, ctx, "shop", "cache-0")
		for _, p := range []*harness.Pod{a, b, c} {
			rn.expectAttached(t, p)
		}
		// Traffic while podintd is down: the probes record it, the ring
		// buffer keeps it for the next podintd.
		outagePort := echoTCP(t, a, b, 8084)
		if err := rn.Kubelet.Restart(ctx, rn.Manifest, dp, "podintd"); err != nil {
			t.Fatal(err)
		}
		if err := waitServing(ctx, rn.Paths.Socket, nil); err != nil {
			t.Fatal(err)
		}
		// The registration made during the outage comes back.
		for rn.probes(t, ctx)[c.ContainerID] == nil {
			select {
			case <-ctx.Done():
				t.Fatalf("pod shop/cache-0, created while podintd was down, is not registered after the restart")
			case <-time.After(100 * time.Millisecond):
			}
		}
		probes := rn.probes(t, ctx)
		pinned := rn.pinnedProbes(t)
		for _, p := range []*harness.Pod{a, b, c} {
			if probes[p.ContainerID] == nil {
				t.Errorf("pod %s lost its registration across the restart", p.Name)
			}
			if !pinned[podProbeID(p)] {
				t.Errorf("pod %s has no pins on the host's bpffs after the restart: %v", p.Name, pinned)
			}
			rn.expectAttached(t, p)
		}
		expectFlowReport(t, ctx, rn.Collector, 6, a.IP, b.IP, outagePort, 8084, vethIndex(t, a), vethIndex(t, b))
		port := echoTCP(t, a, c, 8081)
		expectFlowReport(t, ctx, rn.Collector, 6, a.IP, c.IP, port, 8081, vethIndex(t, a), vethIndex(t, c))
	})

	t.Run("churn", func(t *testing.T) {
		// Pods created and removed through the runtime, 8 at a time. 32,
		// not more: a sandbox costs about 1.5 s of this machine's time
		// (100 took 147 s here), and 4 rounds of 8 already overlap
		// ADDs with DELs.
		const pods, parallel = 32, 8
		leftovers := rn.leftovers(t, ctx)
		var wg sync.WaitGroup
		errs := make(chan error, pods)
		sem := make(chan struct{}, parallel)
		for i := range pods {
			wg.Add(1)
			sem <- struct{}{}
			go func() {
				defer wg.Done()
				defer func() { <-sem }()
				sb, err := rn.CRI.RunPodSandbox(ctx, cri.PodMeta{Name: fmt.Sprintf("job-%d", i), Namespace: "batch", UID: fmt.Sprintf("batch-job-%d", i),
					LogDir: filepath.Join(rn.HostDir, "var/log/pods", fmt.Sprintf("batch_job-%d", i))})
				if err == nil {
					err = rn.CRI.RemovePodSandbox(ctx, sb.ID)
				}
				if err != nil {
					errs <- err
				}
			}()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Error(err)
		}
		if after := rn.leftovers(t, ctx); !maps.EqualFunc(leftovers, after, slices.Equal) {
			t.Errorf("left after the churn:\nbefore %v\nafter  %v", leftovers, after)
		}
	})

	t.Run("vanished", func(t *testing.T) {
		// A pod removed while podint is out of the chain: the primary CNI
		// rewrote the conflist and install-cni has not put podint back
		// (it is stopped here). Its DEL never reaches podint; podintd sees
		// the veth go and drops the registration and pins.
		v := rn.runPod(t, ctx, "shop", "tmp-0")
		if rn.probes(t, ctx)[v.ContainerID] == nil || !rn.pinnedProbes(t)[podProbeID(v)] {
			t.Fatal("pod shop/tmp-0 has no probe to lose")
		}
		if _, err := rn.CRI.Runtime.StopContainer(ctx, &runtimeapi.StopContainerRequest{ContainerId: dp.Containers["install-cni"], Timeout: 10}); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(rn.ConfPath, primary, 0o644); err != nil {
			t.Fatal(err)
		}
		rn.waitCNIConfig(t, ctx, false)
		if err := rn.CRI.RemovePodSandbox(ctx, v.ContainerID); err != nil {
			t.Fatal(err)
		}
		for rn.probes(t, ctx)[v.ContainerID] != nil {
			select {
			case <-ctx.Done():
				t.Fatal("podintd still holds the registration of a pod whose veth is gone")
			case <-time.After(100 * time.Millisecond):
			}
		}
		if rn.pinnedProbes(t)[podProbeID(v)] {
			t.Error("the pins of a pod whose veth is gone are still on the bpffs")
		}
		if got := counter(t, ctx, rn.Node, "probes_removed_vanished"); got != 1 {
			t.Errorf("probes_removed_vanished = %d, want 1", got)
		}
		// install-cni comes back and chains podint again.
		if err := rn.Kubelet.Restart(ctx, rn.Manifest, dp, "install-cni"); err != nil {
			t.Fatal(err)
		}
		rn.waitCNIConfig(t, ctx, true)
	})

	t.Run("upgrade", func(t *testing.T) {
		// A new image version rolls out to the node: the DaemonSet's pod is
		// replaced by one from the new template. The pods' probes stay
		// attached throughout, and the new podintd updates them in place.
		pods := []*harness.Pod{a, b}
		next := *rn.Manifest
		next.Pod = rn.Manifest.WithImage("ghcr.io/podint/podint:0.1.1")
		rn.image(t, ctx, cri.PodintLayout, "ghcr.io/podint/podint:0.1.1")
		veths := map[*harness.Pod]int{a: vethIndex(t, a), b: vethIndex(t, b)}
		stop := make(chan struct{})
		gaps := make(chan string, 1)
		go func() { // samples the pods' hooks until the new daemon serves
			defer close(gaps)
			for {
				for _, p := range pods {
					if in, eg, err := rn.TCXPrograms(veths[p]); err != nil || in == 0 || eg == 0 {
						gaps <- fmt.Sprintf("pod %s: %d+%d TCX programs during the upgrade (%v)", p.Name, in, eg, err)
						return
					}
				}
				select {
				case <-stop:
					return
				case <-time.After(10 * time.Millisecond):
				}
			}
		}()
		if err := rn.CRI.RemovePodSandbox(ctx, dp.Sandbox.ID); err != nil {
			t.Fatal(err)
		}
		var err error
		if dp, err = rn.Kubelet.RunDaemonPod(ctx, &next, "podint-8xq3v", "5b2d9c7e-1f4a-4e8b-a6c3-9d0e1f2a3b4c"); err != nil {
			t.Fatal(err)
		}
		if err := waitServing(ctx, rn.Paths.Socket, nil); err != nil {
			t.Fatal(err)
		}
		close(stop)
		for gap := range gaps {
			t.Error(gap)
		}
		probes := rn.probes(t, ctx)
		for _, p := range pods {
			if probes[p.ContainerID] == nil {
				t.Errorf("pod %s lost its registration in the upgrade", p.Name)
			}
		}
		if got := counter(t, ctx, rn.Node, "probes_adopted"); got < uint64(len(pods)) {
			t.Errorf("probes_adopted = %d: the new podintd did not update the %d pods' probes in place", got, len(pods))
		}
		port := echoTCP(t, a, b, 8083)
		expectFlowReport(t, ctx, rn.Collector, 6, a.IP, b.IP, port, 8083, vethIndex(t, a), vethIndex(t, b))
	})

	t.Run("uninstall", func(t *testing.T) {
		// As docs/install.md says: apply uninstall.yaml (its pods replace
		// the DaemonSet's), wait for the rollout, delete the DaemonSet.
		if err := rn.CRI.RemovePodSandbox(ctx, dp.Sandbox.ID); err != nil {
			t.Fatal(err)
		}
		root, _ := harness.ModuleRoot()
		um, err := cri.ReadManifest(filepath.Join(root, "deployments/kubernetes/uninstall.yaml"))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := rn.Kubelet.RunDaemonPod(ctx, um, "podint-uninstall-q9w4z", "7d0e4b1a-92c8-4f3e-8b6d-0a1b2c3d4e5f"); err != nil {
			t.Fatal(err)
		}
		if got := readFile(t, rn.ConfPath); !bytes.Equal(got, primary) {
			t.Errorf("the conflist after uninstall is not the primary CNI's, byte for byte:\n%s\nwant:\n%s", got, primary)
		}
		if _, err := os.Stat(filepath.Join(rn.HostDir, "opt/cni/bin/podint")); !os.IsNotExist(err) {
			t.Errorf("the plugin binary is still in the CNI bin dir (%v)", err)
		}
		if pinned := rn.pinnedProbes(t); len(pinned) != 0 {
			t.Errorf("pins left after uninstall: %v", pinned)
		}
		for _, p := range []*harness.Pod{a, b} {
			if in, eg, err := rn.TCXPrograms(vethIndex(t, p)); err != nil || in+eg != 0 {
				t.Errorf("pod %s: %d+%d TCX programs after uninstall (%v)", p.Name, in, eg, err)
			}
		}
		// Pods created afterwards work, without podint.
		d := rn.runPod(t, ctx, "shop", "web-1")
		echoTCP(t, d, a, 8082)
		if in, eg, err := rn.TCXPrograms(vethIndex(t, d)); err != nil || in+eg != 0 {
			t.Errorf("pod created after uninstall: %d+%d TCX programs (%v)", in, eg, err)
		}
	})
}

// waitCNIConfig waits until the CNI config containerd has loaded does (or
// does not) chain podint.
func (rn *runtimeNode) waitCNIConfig(t *testing.T, ctx context.Context, podint bool) {
	t.Helper()
	if err := rn.CRI.WaitCNIPlugin(ctx, "podint", podint); err != nil {
		t.Fatal(err)
	}
}

// probes are podintd's registrations, by pod sandbox id.
func (rn *runtimeNode) probes(t *testing.T, ctx context.Context) map[string]*podintv1.Probe {
	t.Helper()
	out := map[string]*podintv1.Probe{}
	for _, pr := range listProbes(t, ctx, client(t, rn.Node)) {
		out[pr.GetPod().GetInfraContainerId()] = pr
	}
	return out
}

// pinnedProbes are the probes pinned on the node's bpffs, which only
// containerd's mount namespace (and its peers) sees.
func (rn *runtimeNode) pinnedProbes(t *testing.T) map[string]bool {
	t.Helper()
	ids, err := bpf.AttachedProbes(filepath.Join(rn.Containerd.Root(), "sys/fs/bpf/podint"))
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		t.Fatal(err)
	}
	out := map[string]bool{}
	for _, id := range ids {
		out[id] = true
	}
	return out
}

func (rn *runtimeNode) expectAttached(t *testing.T, p *harness.Pod) {
	t.Helper()
	in, eg, err := rn.TCXPrograms(vethIndex(t, p))
	if err != nil || in == 0 || eg == 0 {
		t.Errorf("pod %s: %d ingress, %d egress TCX programs (%v); want its probe", p.Name, in, eg, err)
	}
}

// leftovers lists what pods leave on the node: links, registrations,
// pins, pinned network namespaces, IPAM leases, pending registrations.
func (rn *runtimeNode) leftovers(t *testing.T, ctx context.Context) map[string][]string {
	t.Helper()
	out := map[string][]string{}
	rn.NS.Do(func() error {
		links, err := netlink.LinkList()
		for _, l := range links {
			out["links"] = append(out["links"], l.Attrs().Name)
		}
		return err
	})
	for id := range rn.probes(t, ctx) {
		out["registrations"] = append(out["registrations"], id)
	}
	for id := range rn.pinnedProbes(t) {
		out["pins"] = append(out["pins"], id)
	}
	for what, dir := range map[string]string{
		"netns":   filepath.Join(rn.Containerd.Root(), "run/netns"),
		"leases":  filepath.Join(rn.IPAMDir(), rn.ConfList.Name),
		"pending": rn.Paths.PendingDir,
	} {
		ents, _ := os.ReadDir(dir)
		for _, e := range ents {
			out[what] = append(out[what], e.Name())
		}
	}
	for _, v := range out {
		slices.Sort(v)
	}
	return out
}

func readFile(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func copyFile(t *testing.T, src, dst string, mode os.FileMode) {
	t.Helper()
	if err := os.WriteFile(dst, readFile(t, src), mode); err != nil {
		t.Fatal(err)
	}
}

func tail(s string, lines int) string {
	l := strings.Split(s, "\n")
	if len(l) > lines {
		l = l[len(l)-lines:]
	}
	return strings.Join(l, "\n")
}
