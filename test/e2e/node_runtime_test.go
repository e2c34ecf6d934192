package e2e

import (
	"bytes"
	"context"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"syscall"
	"testing"
	"time"

	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/podint/podint/test/cri"
	"github.com/podint/podint/test/harness"
)

// podint as users run it, on a node whose pods containerd creates: the
// DaemonSet's pod (as the chart renders it) copies the plugin and chains
// podint into the runtime's conflist; pods created afterwards get probes
// that name them, and their traffic becomes INT reports at the collector.
// Then, on the same node: podintd killed and restarted, pod churn through
// the runtime, a pod removed while podint is out of the chain, an upgrade
// to a second image version, and the chart's uninstall. The steps share
// the node (an image build and containerd's start cost half a minute here).
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
		// First a graceful restart (SIGTERM, as a rollout or a container
		// restart by the kubelet does), while a pod is created and traffic
		// runs: the probes stay, the new pod is registered, the traffic
		// sent meanwhile is reported.
		restarted := make(chan error, 1)
		go func() { restarted <- rn.Kubelet.Restart(ctx, rn.Manifest, dp, "podintd") }()
		g := rn.runPod(t, ctx, "shop", "cart-0")
		during := echoTCP(t, a, b, 8086)
		if err := <-restarted; err != nil {
			t.Fatal(err)
		}
		if err := waitServing(ctx, rn.Paths.Socket, nil); err != nil {
			t.Fatal(err)
		}
		for rn.probes(t, ctx)[g.ContainerID] == nil {
			select {
			case <-ctx.Done():
				t.Fatalf("pod shop/cart-0, created during a graceful restart of podintd, is not registered")
			case <-time.After(100 * time.Millisecond):
			}
		}
		for _, p := range []*harness.Pod{a, b, g} {
			rn.expectAttached(t, p)
		}
		expectFlowReport(t, ctx, rn.Collector, 6, a.IP, b.IP, during, 8086, vethIndex(t, a), vethIndex(t, b))

		// Then podintd crashes (SIGKILL); a pod is created while it is down;
		// the kubelet starts the container again.
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
		// Pods created and removed through the runtime, 8 at a time, as
		// the issue asks: 100 (147 s on a loaded 2-CPU machine, about a
		// minute on a quiet one).
		const pods, parallel = 100, 8
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
