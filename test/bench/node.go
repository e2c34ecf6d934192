package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/containernetworking/cni/libcni"

	"github.com/podint/podint/install"
	podintv1 "github.com/podint/podint/proto/podint/v1"
	"github.com/podint/podint/test/harness"
)

// benchNode is a harness node with podintd running and a benchmark
// collector inside it, removed at cleanup.
type benchNode struct {
	*harness.Node
	collector *collector
	client    podintv1.PodintClient
	podSide   string // how the node's podint entry sets the pod side, and why
}

// nodeOptions tune a node for one stage.
type nodeOptions struct {
	name       string
	subnet     string
	daemonArgs []string
	podintConf map[string]any // keys of the podint conflist entry over those podint-install writes
	// oneCore starts podintd with GOMAXPROCS=1 and pins it to the last CPU,
	// so its figure is what one core sustains.
	oneCore bool
	// collectorGRO: the collector reads segmented sends whole (UDP_GRO).
	collectorGRO bool
}

// installerConf is podint's entry as podint-install writes it for the
// bench nodes' chain (the harness's bridge, host-local), with extra's keys
// over it, and what it says of the pod side.
func installerConf(extra map[string]any) (map[string]any, string) {
	conf := map[string]any{}
	on, why := install.AutoPodSide([]string{"bridge"})
	if !on {
		conf["podSide"] = false
	}
	for k, v := range extra {
		conf[k] = v
	}
	side := fmt.Sprintf("podSide %v, as podint-install chooses for bridge (%s)", on, why)
	if v, ok := extra["podSide"]; ok {
		side = fmt.Sprintf("podSide %v (set by the stage)", v)
	}
	return conf, side
}

func (b *bench) startNode(ctx context.Context, o nodeOptions) (*benchNode, error) {
	conf, podSide := installerConf(o.podintConf)
	n, err := harness.NewNode(harness.NodeConfig{Name: o.name, BinDir: b.binDir, Subnet: o.subnet,
		SwitchID: "10.0.0.1", DaemonArgs: o.daemonArgs, PodintConf: conf})
	if err != nil {
		return nil, err
	}
	b.cleanup.push(func() { n.Close() })
	col, err := newCollector(n.NS, o.collectorGRO)
	if err != nil {
		return nil, err
	}
	b.cleanup.push(func() { col.Close() })
	n.Config.Collectors = []string{col.Addr()}
	if o.oneCore {
		// The child inherits the environment; nothing else reads it meanwhile.
		os.Setenv("GOMAXPROCS", "1")
	}
	err = n.StartDaemon(ctx)
	if o.oneCore {
		os.Unsetenv("GOMAXPROCS")
	}
	if err != nil {
		return nil, err
	}
	if o.oneCore {
		cpu := strconv.Itoa(daemonCPU())
		if err := runCmd("taskset", "-a", "-p", "-c", cpu, strconv.Itoa(n.DaemonPID())); err != nil {
			return nil, fmt.Errorf("pin podintd to CPU %s: %w", cpu, err)
		}
	}
	c, closeFn, err := n.Client()
	if err != nil {
		return nil, err
	}
	b.cleanup.push(func() { closeFn() })
	return &benchNode{Node: n, collector: col, client: c, podSide: podSide}, nil
}

// stats returns the daemon's counters by name, summed over labels.
func (n *benchNode) stats(ctx context.Context) (map[string]uint64, error) {
	res, err := n.client.Stats(ctx, &podintv1.StatsRequest{})
	if err != nil {
		return nil, fmt.Errorf("daemon stats: %w", err)
	}
	out := map[string]uint64{}
	for _, c := range res.GetCounters() {
		out[c.GetName()] += c.GetValue()
	}
	return out, nil
}

// podHooks says which pod-side hooks the daemon's pod probes have, as
// registered (what `podintctl probes` shows as POD SIDE).
func (n *benchNode) podHooks(ctx context.Context) (string, error) {
	res, err := n.client.ListProbes(ctx, &podintv1.ListProbesRequest{})
	if err != nil {
		return "", fmt.Errorf("list probes: %w", err)
	}
	seen := map[string]int{}
	pods := 0
	for _, p := range res.GetProbes() {
		if p.GetKind() != podintv1.PortKind_PORT_KIND_POD {
			continue
		}
		pods++
		seen[strings.Join(p.GetPodHooks(), "+")]++
	}
	if len(seen) == 1 && seen[""] == pods {
		return fmt.Sprintf("no pod-side hook (%d pod probes)", pods), nil
	}
	return fmt.Sprintf("pod-side hooks %v (pod probes by hooks)", seen), nil
}

// podintConf is the podint entry of the node's chain as a runtime hands
// it to the plugin, with the previous plugins' result.
func (n *benchNode) podintConf(p *harness.Pod) ([]byte, error) {
	for _, pl := range n.ConfList.Plugins {
		if pl.Network.Type != "podint" {
			continue
		}
		b, err := json.Marshal(p.Result)
		if err != nil {
			return nil, err
		}
		var prev map[string]any
		if err := json.Unmarshal(b, &prev); err != nil {
			return nil, err
		}
		conf, err := libcni.InjectConf(pl, map[string]any{"name": n.ConfList.Name,
			"cniVersion": n.ConfList.CNIVersion, "prevResult": prev})
		if err != nil {
			return nil, err
		}
		return conf.Bytes, nil
	}
	return nil, fmt.Errorf("no podint entry in the conflist")
}

// attach runs podint's ADD alone for a pod whose chain already ran: the
// probe goes back on its veth exactly as the runtime would put it.
func (n *benchNode) attach(ctx context.Context, p *harness.Pod) error {
	conf, err := n.podintConf(p)
	if err != nil {
		return err
	}
	out, err := n.ExecPlugin(ctx, "podint", p.PodintCall("ADD", conf))
	if err != nil {
		return err
	}
	if out.ExitCode != 0 {
		return fmt.Errorf("podint ADD for %s exited %d: %s %s", p.Name, out.ExitCode, out.Stdout, out.Stderr)
	}
	return n.expectProbes(p, 1)
}

// detach runs podint's DEL alone: the veth keeps its pod, without probe.
func (n *benchNode) detach(ctx context.Context, p *harness.Pod) error {
	if err := n.CNIDelPlugin(ctx, p, "podint"); err != nil {
		return err
	}
	return n.expectProbes(p, 0)
}

func (n *benchNode) expectProbes(p *harness.Pod, want int) error {
	v, err := p.HostVeth()
	if err != nil {
		return err
	}
	in, eg, err := n.TCXPrograms(v.Attrs().Index)
	if err != nil {
		return err
	}
	if in != want || eg != want {
		return fmt.Errorf("%s: %d ingress and %d egress programs, want %d each", v.Attrs().Name, in, eg, want)
	}
	return nil
}

// withoutPodint is the node's chain without its podint entry: the same
// network, the same plugins, no probe.
func withoutPodint(l *libcni.NetworkConfigList) (*libcni.NetworkConfigList, error) {
	return editPodint(l, func(map[string]any) bool { return false })
}

// withPodSide is the node's chain with podint's podSide key set to on.
func withPodSide(l *libcni.NetworkConfigList, on bool) (*libcni.NetworkConfigList, error) {
	return editPodint(l, func(e map[string]any) bool { e["podSide"] = on; return true })
}

// withReference is the node's chain with bandwidth, without limits, in
// podint's place: the lightest reference plugin, as a yardstick. It parses
// its config and passes the result through (its DEL looks an ifb device up
// by name), so what it adds to a chain is a plugin's exec and start-up with
// next to no work.
func withReference(l *libcni.NetworkConfigList) (*libcni.NetworkConfigList, error) {
	return editPodint(l, func(e map[string]any) bool {
		clear(e)
		e["type"] = "bandwidth"
		return true
	})
}

// editPodint is the node's chain with podint's entry edited by edit, and
// left out where edit returns false.
func editPodint(l *libcni.NetworkConfigList, edit func(entry map[string]any) (keep bool)) (*libcni.NetworkConfigList, error) {
	var conf map[string]any
	if err := json.Unmarshal(l.Bytes, &conf); err != nil {
		return nil, err
	}
	plugins, _ := conf["plugins"].([]any)
	var kept []any
	found := false
	for _, p := range plugins {
		if m, ok := p.(map[string]any); ok && m["type"] == "podint" {
			found = true
			if !edit(m) {
				continue
			}
		}
		kept = append(kept, p)
	}
	if !found {
		return nil, fmt.Errorf("the chain has no podint entry")
	}
	conf["plugins"] = kept
	b, err := json.Marshal(conf)
	if err != nil {
		return nil, err
	}
	return libcni.ConfListFromBytes(b)
}

// memoryOf reads a process's resident set (VmRSS) and its peak (VmHWM).
func memoryOf(pid int) (rss, peak uint64, err error) {
	b, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "status"))
	if err != nil {
		return 0, 0, err
	}
	for _, l := range strings.Split(string(b), "\n") {
		k, v, ok := strings.Cut(l, ":")
		if !ok {
			continue
		}
		f := strings.Fields(v)
		if len(f) != 2 || f[1] != "kB" {
			continue
		}
		kb, _ := strconv.ParseUint(f[0], 10, 64)
		switch k {
		case "VmRSS":
			rss = kb << 10
		case "VmHWM":
			peak = kb << 10
		}
	}
	return rss, peak, nil
}
