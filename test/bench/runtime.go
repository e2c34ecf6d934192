package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/podint/podint/test/cri"
)

// RunPodSandbox latency through a real container runtime, the figure users
// feel when a pod starts: containerd (CRI) creating the sandbox, its
// namespaces and the pause container, and running the CNI chain, with
// podint as the chain's last entry and without it. The conflist is
// switched between pods (containerd reloads it; the wait is not timed),
// alternating which chain goes first, as the libcni stage does.

func measureRuntimeLatency(ctx context.Context, b *bench) (section, error) {
	pl := b.plan
	sec := section{title: fmt.Sprintf("Pod start through containerd's CRI, %d pods per chain (RunPodSandbox, bridge + host-local [+ podint])", pl.runtimePods)}
	n, err := b.startNode(ctx, nodeOptions{name: "rt", subnet: "10.24.0.0/16"})
	if err != nil {
		return sec, err
	}
	// containerd 1.6 (Debian 12) speaks CNI up to 1.0.0.
	with, err := cniVersion(n.ConfList.Bytes, "1.0.0")
	if err != nil {
		return sec, err
	}
	without, err := cniVersion(n.PrimaryConfList(), "1.0.0")
	if err != nil {
		return sec, err
	}
	work, err := os.MkdirTemp("", "podint-bench-runtime-")
	if err != nil {
		return sec, err
	}
	b.cleanup.push(func() { os.RemoveAll(work) })
	// The node's root is its host filesystem; its CNI dirs are containerd's.
	host := n.Paths.Root
	ctrd, err := cri.StartContainerd(ctx, n.NS, filepath.Join(work, "containerd"), host)
	if err != nil {
		return sec, err
	}
	b.cleanup.push(func() { ctrd.Close() })
	for _, p := range []string{"bridge", "host-local", "loopback", "podint"} {
		data, err := os.ReadFile(filepath.Join(b.binDir, p))
		if err != nil {
			return sec, err
		}
		if err := os.WriteFile(filepath.Join(host, "opt/cni/bin", p), data, 0o755); err != nil {
			return sec, err
		}
	}
	archive := filepath.Join(work, "pause.tar")
	if err := cri.BuildImage(ctx, cri.PauseLayout, b.binDir, filepath.Join(work, "buildah"), cri.SandboxImage, archive); err != nil {
		return sec, err
	}
	if err := ctrd.Import(ctx, archive); err != nil {
		return sec, err
	}
	c, err := cri.Dial(ctrd.Socket)
	if err != nil {
		return sec, err
	}
	defer c.Close()
	b.cleanup.push(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		c.RemoveAll(ctx)
	})
	conf := filepath.Join(host, "etc/cni/net.d/10-bridge.conflist")
	run := map[bool][]float64{}
	stop := map[bool][]float64{}
	var sandboxes []struct {
		id     string
		podint bool
	}
	for i := 0; i < pl.runtimePods; i++ {
		for _, podint := range []bool{i%2 == 0, i%2 == 1} {
			if ctx.Err() != nil {
				return sec, ctx.Err()
			}
			chain := without
			if podint {
				chain = with
			}
			if err := os.WriteFile(conf, chain, 0o644); err != nil {
				return sec, err
			}
			if err := c.WaitCNIPlugin(ctx, "podint", podint); err != nil {
				return sec, err
			}
			name := fmt.Sprintf("p%d-%v", i, podint)
			t := time.Now()
			sb, err := c.RunPodSandbox(ctx, cri.PodMeta{Name: name, Namespace: "bench", UID: name, LogDir: filepath.Join(work, "pods", name)})
			run[podint] = append(run[podint], float64(time.Since(t))/1e6)
			if err != nil {
				return sec, err
			}
			sandboxes = append(sandboxes, struct {
				id     string
				podint bool
			}{sb.ID, podint})
		}
		if i%10 == 9 {
			b.progress("runtime: %d pods per chain created", i+1)
		}
	}
	// Removal runs the chain the pod was created with: containerd reads the
	// conflist at DEL time, so the file is switched back for each.
	for _, s := range sandboxes {
		chain := without
		if s.podint {
			chain = with
		}
		if err := os.WriteFile(conf, chain, 0o644); err != nil {
			return sec, err
		}
		if err := c.WaitCNIPlugin(ctx, "podint", s.podint); err != nil {
			return sec, err
		}
		t := time.Now()
		err := c.RemovePodSandbox(ctx, s.id)
		stop[s.podint] = append(stop[s.podint], float64(time.Since(t))/1e6)
		if err != nil {
			return sec, err
		}
	}
	for _, verb := range []struct {
		name string
		ms   map[bool][]float64
	}{{"RunPodSandbox", run}, {"Stop+RemovePodSandbox", stop}} {
		for _, q := range []float64{50, 99} {
			w, wo := percentile(verb.ms[true], q), percentile(verb.ms[false], q)
			sec.rows = append(sec.rows, row{name: fmt.Sprintf("%s p%.0f", verb.name, q), with: ms(w), without: ms(wo), figure: fmt.Sprintf("%+.1f ms", w-wo)})
		}
	}
	sec.notes = append(sec.notes, "containerd "+containerdVersion()+", runc, the native snapshotter; the CNI ADD is part of RunPodSandbox, the DEL of StopPodSandbox")
	return sec, nil
}

// cniVersion returns a conflist with its cniVersion set.
func cniVersion(conflist []byte, v string) ([]byte, error) {
	var m map[string]any
	if err := json.Unmarshal(conflist, &m); err != nil {
		return nil, err
	}
	m["cniVersion"] = v
	return json.Marshal(m)
}

func containerdVersion() string {
	out, err := exec.Command("containerd", "--version").Output()
	if err != nil {
		return "(version unknown)"
	}
	f := strings.Fields(string(out))
	if len(f) >= 3 {
		return f[2]
	}
	return strings.TrimSpace(string(out))
}
