package e2e

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/vishvananda/netlink"

	"github.com/podint/podint/bpf/attach"
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

	// containerd's own dir is inside the node's root, whose name carries
	// this process's id: harness.RemoveLeftovers finds the shims of a run
	// killed before it removed its pods.
	if rn.Containerd, err = cri.StartContainerd(ctx, n.NS, filepath.Join(rn.HostDir, "containerd"), rn.HostDir); err != nil {
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
	ids, err := attach.AttachedProbes(filepath.Join(rn.Containerd.Root(), "sys/fs/bpf/podint"))
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
