package e2e

import (
	"bytes"
	"context"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

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

	work := t.TempDir()
	images := []struct {
		layout cri.ImageLayout
		ref    string
	}{
		{cri.PauseLayout, cri.SandboxImage},
		{cri.PodintLayout, rn.Manifest.Pod.Containers[0].Image},
	}
	for i, im := range images {
		archive := filepath.Join(work, fmt.Sprintf("image%d.tar", i))
		if err := cri.BuildImage(ctx, im.layout, binDir, filepath.Join(work, "buildah"), im.ref, archive); err != nil {
			t.Fatal(err)
		}
		if err := rn.Containerd.Import(ctx, archive); err != nil {
			t.Fatal(err)
		}
	}
	return rn
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

// Install the way users do, on a node whose pods containerd creates: the
// DaemonSet's pod (as the chart renders it) copies the plugin and chains
// podint into the runtime's conflist; pods created afterwards get probes
// that name them, and their traffic becomes INT reports at the collector.
func TestRuntimeInstallProbesNewPods(t *testing.T) {
	rn := newRuntimeNode(t)
	ctx := testContext(t)
	before := rn.runPod(t, ctx, "default", "before-install")
	rn.install(t, ctx)

	plugin := readFile(t, filepath.Join(rn.HostDir, "opt/cni/bin/podint"))
	if !bytes.Equal(plugin, readFile(t, filepath.Join(binDir, "podint"))) {
		t.Error("the plugin in the node's CNI bin dir is not the image's")
	}

	a := rn.runPod(t, ctx, "shop", "web-0")
	b := rn.runPod(t, ctx, "shop", "db-0")
	probes := map[string]*podintv1.Probe{}
	for _, pr := range listProbes(t, ctx, client(t, rn.Node)) {
		probes[pr.GetPod().GetInfraContainerId()] = pr
	}
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
		t.Errorf("the pod created before podint was installed has a probe")
	}

	va, err := a.HostVeth()
	if err != nil {
		t.Fatal(err)
	}
	vb, err := b.HostVeth()
	if err != nil {
		t.Fatal(err)
	}
	port := echoTCP(t, a, b, 8080)
	expectFlowReport(t, ctx, rn.Collector, 6, a.IP, b.IP, port, 8080, va.Attrs().Index, vb.Attrs().Index)
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
