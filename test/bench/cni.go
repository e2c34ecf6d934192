package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/containernetworking/cni/libcni"

	"github.com/podint/podint/test/harness"
)

// CNI ADD and DEL latency: the same node, the same network and plugins
// (bridge, host-local), with podint as the chain's last entry and without
// it, pods alternating between the two so that both see the node grow
// alike. Timed is what a runtime waits for: libcni running the chain;
// creating the pod's namespace is not.

func measureCNILatency(ctx context.Context, b *bench) (section, error) {
	pl := b.plan
	sec := section{title: fmt.Sprintf("CNI latency, %d pods per chain (libcni, bridge + host-local [+ podint])", pl.cniPods)}
	logDir, err := os.MkdirTemp("", "podint-bench-cni-")
	if err != nil {
		return sec, err
	}
	b.cleanup.push(func() { os.RemoveAll(logDir) })
	pluginLog := filepath.Join(logDir, "plugin.log")
	n, err := b.startNode(ctx, nodeOptions{name: "cni", subnet: "10.23.0.0/16",
		podintConf: map[string]any{"logFile": pluginLog}})
	if err != nil {
		return sec, err
	}
	with := n.ConfList
	without, err := withoutPodint(with)
	if err != nil {
		return sec, err
	}
	type pod struct {
		p     *harness.Pod
		chain *libcni.NetworkConfigList
	}
	var pods []pod
	add := map[bool][]float64{}
	for i := 0; i < pl.cniPods; i++ {
		if ctx.Err() != nil {
			return sec, ctx.Err()
		}
		// Alternate which chain goes first, so neither always follows the other.
		for _, podint := range []bool{i%2 == 0, i%2 == 1} {
			chain := without
			if podint {
				chain = with
			}
			p, err := n.NewPod(fmt.Sprintf("p%d%v", i, podint))
			if err != nil {
				return sec, err
			}
			b.cleanup.push(func() { p.NS.Delete() })
			n.ConfList = chain
			t := time.Now()
			err = n.CNIAdd(ctx, p)
			add[podint] = append(add[podint], float64(time.Since(t))/1e6)
			if err != nil {
				return sec, err
			}
			pods = append(pods, pod{p, chain})
		}
		if i%20 == 19 {
			b.progress("cni: %d pods per chain added", i+1)
		}
	}
	del := map[bool][]float64{}
	for _, p := range pods {
		n.ConfList = p.chain
		t := time.Now()
		err := n.CNIDel(ctx, p.p)
		del[p.chain == with] = append(del[p.chain == with], float64(time.Since(t))/1e6)
		if err != nil {
			return sec, err
		}
		p.p.NS.Delete()
	}
	n.ConfList = with
	for _, verb := range []struct {
		name string
		ms   map[bool][]float64
		goal bool
	}{{"ADD", add, true}, {"DEL", del, false}} {
		for _, q := range []float64{50, 99} {
			w, wo := percentile(verb.ms[true], q), percentile(verb.ms[false], q)
			r := row{name: fmt.Sprintf("%s p%.0f", verb.name, q), with: ms(w), without: ms(wo), figure: fmt.Sprintf("%+.1f ms", w-wo)}
			if verb.goal && q == 50 {
				r.goal, r.verdict = "≤ +5 ms", atMost(w-wo, 5)
			}
			sec.rows = append(sec.rows, r)
		}
	}
	split, err := pluginSplit(pluginLog)
	if err != nil {
		return sec, err
	}
	sec.rows = append(sec.rows, split...)
	start, err := measureExec(ctx, b)
	if err != nil {
		return sec, err
	}
	sec.rows = append(sec.rows, start...)
	return sec, nil
}
