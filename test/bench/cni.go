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
// alike. podint's entry is what podint-install writes for bridge (pod side
// off); a third chain, alternating with them, has the pod side on, so the
// cost of the pod-side probe (one more TCX link per ADD and DEL) is
// measured beside it. Timed is what a runtime waits for: libcni running
// the chain; creating the pod's namespace is not. A fourth chain has
// bandwidth without limits in podint's place (withReference): the cost of
// exec'ing a chained plugin that does nothing, to tell podint's own work
// from a plugin's start.

// cniChain is one of the chains pods alternate between.
type cniChain struct {
	name  string
	chain *libcni.NetworkConfigList
	add   []float64 // ms
	del   []float64
}

func measureCNILatency(ctx context.Context, b *bench) (section, error) {
	pl := b.plan
	sec := section{title: fmt.Sprintf("CNI latency, %d pods per chain (libcni, bridge + host-local [+ podint, or + bandwidth as a yardstick])", pl.cniPods)}
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
	installed := n.ConfList
	without, err := withoutPodint(installed)
	if err != nil {
		return sec, err
	}
	podSideOn, err := withPodSide(installed, true)
	if err != nil {
		return sec, err
	}
	reference, err := withReference(installed)
	if err != nil {
		return sec, err
	}
	chains := []*cniChain{{name: "without", chain: without}, {name: "with", chain: installed}, {name: "pod side on", chain: podSideOn},
		{name: "reference", chain: reference}}
	type pod struct {
		p     *harness.Pod
		chain *cniChain
	}
	var pods []pod
	for i := 0; i < pl.cniPods; i++ {
		if ctx.Err() != nil {
			return sec, ctx.Err()
		}
		// Rotate which chain goes first, so none always follows another.
		for k := range chains {
			c := chains[(i+k)%len(chains)]
			p, err := n.NewPod(fmt.Sprintf("p%d-%d", i, (i+k)%len(chains)))
			if err != nil {
				return sec, err
			}
			b.cleanup.push(func() { p.NS.Delete() })
			n.ConfList = c.chain
			t := time.Now()
			err = n.CNIAdd(ctx, p)
			c.add = append(c.add, float64(time.Since(t))/1e6)
			if err != nil {
				return sec, err
			}
			pods = append(pods, pod{p, c})
		}
		if i%20 == 19 {
			b.progress("cni: %d pods per chain added", i+1)
		}
	}
	for _, p := range pods {
		n.ConfList = p.chain.chain
		t := time.Now()
		err := n.CNIDel(ctx, p.p)
		p.chain.del = append(p.chain.del, float64(time.Since(t))/1e6)
		if err != nil {
			return sec, err
		}
		p.p.NS.Delete()
	}
	n.ConfList = installed
	wo, with, on, ref := chains[0], chains[1], chains[2], chains[3]
	verbs := []struct {
		name string
		ms   func(*cniChain) []float64
	}{{"ADD", func(c *cniChain) []float64 { return c.add }}, {"DEL", func(c *cniChain) []float64 { return c.del }}}
	for _, verb := range verbs {
		for _, q := range []float64{50, 99} {
			w, wo := percentile(verb.ms(with), q), percentile(verb.ms(wo), q)
			sec.rows = append(sec.rows, row{name: fmt.Sprintf("%s p%.0f", verb.name, q), with: ms(w), without: ms(wo), figure: fmt.Sprintf("%+.1f ms", w-wo)})
		}
		// What podint adds beyond a chained plugin's own exec and start-up.
		r := pairedRow(verb.name+" p50 (without: bandwidth, no limits, in podint's place)", verb.ms(with), verb.ms(ref))
		r.goal, r.verdict = "≤ +3 ms", atMost(percentile(verb.ms(with), 50)-percentile(verb.ms(ref), 50), 3)
		sec.rows = append(sec.rows, r)
	}
	for _, verb := range verbs {
		sec.rows = append(sec.rows, pairedRow(verb.name+" p50, pod side on (without: off)", verb.ms(on), verb.ms(with)))
	}
	sec.notes = append(sec.notes, "with: podint's entry as podint-install writes it for bridge: "+n.podSide+
		"; \"pod side on\": the same entry with podSide true (what an eBPF CNI's node gets), pods rotating among the four chains; bandwidth without limits, the lightest reference plugin, stands in podint's place as a yardstick: podint's ADD less its ADD is what podint does beyond a chained plugin's start")
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

// pairedRow compares two chains' p50 times, and the differences of the
// pods of each round: those ran next to each other, so their differences
// cancel the machine's drift.
func pairedRow(name string, with, without []float64) row {
	w, wo := percentile(with, 50), percentile(without, 50)
	var d []float64
	for i := range with {
		d = append(d, with[i]-without[i])
	}
	return row{name: name, with: ms(w), without: ms(wo),
		figure: fmt.Sprintf("%+.1f ms; same-round pairs %+.1f ms [p25 %+.1f, p75 %+.1f]", w-wo, percentile(d, 50), percentile(d, 25), percentile(d, 75))}
}
