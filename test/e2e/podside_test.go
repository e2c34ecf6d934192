package e2e

import (
	"path/filepath"
	"slices"
	"syscall"
	"testing"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/link"
	"github.com/vishvananda/netlink"

	"github.com/podint/podint/bpf/attach"
	"github.com/podint/podint/bpf/pins"
	"github.com/podint/podint/internal/intreport"
	"github.com/podint/podint/test/harness"
)

// podSidePrograms are the ids of the TCX programs on the pod's own
// interface, by hook, in the pod's namespace.
func podSidePrograms(t *testing.T, p *harness.Pod) map[pins.Hook][]ebpf.ProgramID {
	t.Helper()
	out := map[pins.Hook][]ebpf.ProgramID{}
	err := p.NS.Do(func() error {
		l, err := netlink.LinkByName(harness.PodIfName)
		if err != nil {
			return err
		}
		for h, at := range map[pins.Hook]ebpf.AttachType{pins.PodIngress: ebpf.AttachTCXIngress, pins.PodEgress: ebpf.AttachTCXEgress} {
			res, err := link.QueryPrograms(link.QueryOptions{Target: l.Attrs().Index, Attach: at})
			if err != nil {
				return err
			}
			for _, pr := range res.Programs {
				out[h] = append(out[h], pr.ID)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// podPortOf is the host port pod_ports holds for the pod's interface, 0
// when none; it fails when an entry points at the pod's veth from
// elsewhere.
func podPortOf(t *testing.T, n *harness.Node, p *harness.Pod, veth int) int {
	t.Helper()
	ino, err := attach.NetnsIno(p.NS.Path)
	if err != nil {
		t.Fatal(err)
	}
	ports, err := attach.PodPorts(n.Paths.PinDir)
	if err != nil {
		t.Fatal(err)
	}
	host := 0
	for _, pp := range ports {
		if pp.NetnsIno == ino {
			host = pp.HostIfindex
		} else if pp.HostIfindex == veth {
			t.Errorf("pod_ports entry %+v points at %s's veth %d from another namespace", pp, p.Name, veth)
		}
	}
	return host
}

// The pod-side probe lives and dies with the pod's probe: ADD attaches it
// in the pod's namespace and records the host port, a restarted daemon
// updates it in place, CHECK notices it missing, DEL and GC remove it and
// its host port entry. attachPosition last gives it both hooks.
func TestPodSideProbeFollowsThePodsProbe(t *testing.T) {
	n := startNode(t, harness.NodeConfig{PodintConf: map[string]any{"attachPosition": "last"}})
	ctx := testContext(t)
	a := addPod(t, n.Node, "a")
	va := vethIndex(t, a)

	progs := podSidePrograms(t, a)
	for _, h := range pins.PodHooks() {
		if len(progs[h]) != 1 || progs[h][0] != pinnedProgramID(t, n.Node, h) {
			t.Fatalf("after ADD: %s hook of the pod's eth0 runs %v, want the daemon's program %d", h, progs[h], pinnedProgramID(t, n.Node, h))
		}
	}
	if host := podPortOf(t, n.Node, a, va); host != va {
		t.Fatalf("pod_ports: pod interface maps to host port %d, want its veth %d", host, va)
	}
	if err := n.CNICheck(ctx, a); err != nil {
		t.Fatalf("CHECK after ADD: %v", err)
	}
	if hooks := registration(t, ctx, n.Node, a).GetPodHooks(); !slices.Equal(hooks, []string{string(pins.PodIngress), string(pins.PodEgress)}) {
		t.Errorf("the daemon's registration lists pod-side hooks %v, want %v", hooks, []string{string(pins.PodIngress), string(pins.PodEgress)})
	}

	// A restarted daemon puts its own programs into the pod-side hooks too.
	if err := n.StopDaemon(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := n.StartDaemon(ctx); err != nil {
		t.Fatal(err)
	}
	progs = podSidePrograms(t, a)
	for _, h := range pins.PodHooks() {
		if len(progs[h]) != 1 || progs[h][0] != pinnedProgramID(t, n.Node, h) {
			t.Errorf("after a restart: %s hook runs %v, want the new daemon's program %d", h, progs[h], pinnedProgramID(t, n.Node, h))
		}
	}
	if host := podPortOf(t, n.Node, a, va); host != va {
		t.Errorf("after a restart: pod_ports maps the pod interface to %d, want %d", host, va)
	}

	// CHECK fails when a pod-side hook is gone.
	l, err := link.LoadPinnedLink(filepath.Join(pins.LinkDir(n.Paths.PinDir, podProbeID(a)), string(pins.PodIngress)), nil)
	if err != nil {
		t.Fatal(err)
	}
	err = l.Detach()
	l.Close()
	if err != nil {
		t.Fatal(err)
	}
	if err := n.CNICheck(ctx, a); err == nil || cniErrCode(err) != 102 {
		t.Errorf("CHECK with the pod-side ingress hook detached: %v, want error 102", err)
	}

	// DEL removes the hooks and the host port entry.
	if err := n.CNIAddPlugin(ctx, a, "podint"); err != nil {
		t.Fatal(err)
	}
	if err := n.CNIDelPlugin(ctx, a, "podint"); err != nil {
		t.Fatal(err)
	}
	if progs := podSidePrograms(t, a); len(progs[pins.PodIngress])+len(progs[pins.PodEgress]) != 0 {
		t.Errorf("after DEL the pod's eth0 still runs %v", progs)
	}
	if host := podPortOf(t, n.Node, a, va); host != 0 {
		t.Errorf("after DEL pod_ports still maps the pod interface to %d", host)
	}

	// GC of an attachment no longer valid does the same (podint's GC
	// alone: the reference plugins' GC would take the veth with it).
	if err := n.CNIAddPlugin(ctx, a, "podint"); err != nil {
		t.Fatal(err)
	}
	runGC(t, n.Node, "cni.dev/valid-attachments")
	if progs := podSidePrograms(t, a); len(progs[pins.PodIngress])+len(progs[pins.PodEgress]) != 0 {
		t.Errorf("after GC the pod's eth0 still runs %v", progs)
	}
	if host := podPortOf(t, n.Node, a, va); host != 0 {
		t.Errorf("after GC pod_ports still maps the pod interface to %d", host)
	}
}

// podSide false (what the installer writes for bridge, ptp and flannel):
// ADD attaches the host veth's hooks only, even at attachPosition last,
// and records no host port; CHECK, a daemon restart (reconcile), DEL and
// the registration all handle a probe without a pod side, and the bridge's
// pod-to-pod traffic is reported once each, through the right ports, with
// a hop latency, by the host veths alone.
func TestWithoutPodSidePodToPodIsReported(t *testing.T) {
	n := startNode(t, harness.NodeConfig{PodintConf: map[string]any{"podSide": false, "attachPosition": "last"}})
	ctx := testContext(t)
	a, b := addPod(t, n.Node, "a"), addPod(t, n.Node, "b")
	va, vb := vethIndex(t, a), vethIndex(t, b)
	noPodSide := func(when string) {
		t.Helper()
		for _, p := range []*harness.Pod{a, b} {
			if progs := podSidePrograms(t, p); len(progs[pins.PodIngress])+len(progs[pins.PodEgress]) != 0 {
				t.Errorf("%s: %s's eth0 runs %v, want no pod-side program", when, p.Name, progs)
			}
			if hooks := registration(t, ctx, n.Node, p).GetPodHooks(); len(hooks) != 0 {
				t.Errorf("%s: %s's registration lists pod-side hooks %v, want none", when, p.Name, hooks)
			}
		}
		if host := podPortOf(t, n.Node, a, va); host != 0 {
			t.Errorf("%s: pod_ports maps a's interface to %d, want no entry", when, host)
		}
		if ports, err := attach.PodPorts(n.Paths.PinDir); err != nil || len(ports) != 0 {
			t.Errorf("%s: pod_ports holds %v (%v), want nothing", when, ports, err)
		}
	}
	noPodSide("after ADD")
	if err := n.CNICheck(ctx, a); err != nil {
		t.Fatalf("CHECK: %v", err)
	}
	burst := &udpBurst{from: a, dst: b.IP, dport: 7000, first: 45000}
	burst.expectEachOnce(t, ctx, n.Collector, 10, va, vb)
	sport := echoTCP(t, a, b, 5201)
	expectFlowReport(t, ctx, n.Collector, intreport.ProtoTCP, a.IP, b.IP, sport, 5201, va, vb)
	expectFlowReport(t, ctx, n.Collector, intreport.ProtoTCP, b.IP, a.IP, 5201, sport, vb, va)
	if got := counter(t, ctx, n.Node, "kernel_pod_side"); got != 0 {
		t.Errorf("kernel_pod_side %d without pod-side probes, want 0", got)
	}

	// A restarted daemon reconciles the probes and adds no pod side.
	if err := n.StopDaemon(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := n.StartDaemon(ctx); err != nil {
		t.Fatal(err)
	}
	noPodSide("after a daemon restart")
	if err := n.CNICheck(ctx, a); err != nil {
		t.Errorf("CHECK after a daemon restart: %v", err)
	}
	if err := n.CNIDelPlugin(ctx, a, "podint"); err != nil {
		t.Fatal(err)
	}
	in, eg, err := n.TCXPrograms(va)
	if err != nil {
		t.Fatal(err)
	}
	if in+eg != 0 {
		t.Errorf("after DEL a's host veth runs %d ingress and %d egress programs, want none", in, eg)
	}
}
