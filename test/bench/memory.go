package main

import (
	"context"
	"fmt"
	"time"

	"github.com/vishvananda/netlink"

	"github.com/podint/podint/bpf/attach"
	"github.com/podint/podint/bpf/pins"
	podintv1 "github.com/podint/podint/proto/podint/v1"
	"github.com/podint/podint/test/harness"
)

// The daemon's memory at scale: podintd's resident set after it took 500
// probes and carried the new-flow reports of 100k flows. A probe is what
// the CNI plugin makes of a pod: a veth whose peer is in a pod namespace,
// the pinned programs attached to it with TCX (attach.Attach, the plugin's
// own call) and a registration over gRPC, which the daemon checks against
// the kernel. Running the whole CNI chain 500 times would add minutes and
// nothing the daemon holds. The flows are test runs of the daemon's egress
// probe, each a new flow, so each is an event the daemon turns into a
// report.

func measureMemory(ctx context.Context, b *bench) (section, error) {
	pl := b.plan
	sec := section{title: fmt.Sprintf("daemon memory, %d probes, %s flows", pl.memProbes, rate(float64(pl.memFlows)))}
	n, err := b.startNode(ctx, nodeOptions{name: "mem", subnet: "10.24.0.0/16"})
	if err != nil {
		return sec, err
	}
	idle, _, err := memoryOf(n.DaemonPID())
	if err != nil {
		return sec, err
	}
	podsNS, err := harness.NewNamespace("mem-pods")
	if err != nil {
		return sec, err
	}
	b.cleanup.push(func() { podsNS.Delete() })
	if err := b.addProbes(ctx, n, podsNS, pl.memProbes); err != nil {
		return sec, err
	}
	probes, err := OpenPinnedProbes(n.Paths.PinDir)
	if err != nil {
		return sec, err
	}
	b.cleanup.push(func() { probes.Close() })
	s0, err := n.stats(ctx)
	if err != nil {
		return sec, err
	}
	b.progress("memory: %d new flows", pl.memFlows)
	f := tcpFrame(false, 20)
	pace := time.NewTicker(time.Millisecond)
	defer pace.Stop()
	const perTick = 50 // 50k flows/s: well below the daemon's knee
	for i := 0; i < pl.memFlows; i++ {
		if i%perTick == 0 {
			<-pace.C
			if ctx.Err() != nil {
				return sec, ctx.Err()
			}
		}
		f.setFlow(uint32(i) + 7)
		if _, _, err := probes.Egress.Benchmark(f.b, 1, nil); err != nil {
			return sec, err
		}
	}
	var got uint64
	for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		s, err := n.stats(ctx)
		if err != nil {
			return sec, err
		}
		if got = s["events_received"] - s0["events_received"]; got >= uint64(pl.memFlows) {
			break
		}
	}
	rss, peak, err := memoryOf(n.DaemonPID())
	if err != nil {
		return sec, err
	}
	kernel, err := probes.MapMemory()
	if err != nil {
		return sec, err
	}
	sec.rows = append(sec.rows,
		row{name: "podintd VmRSS", with: mib(float64(rss)), without: mib(float64(idle)) + " idle", figure: mib(float64(rss)), goal: "≤ 64 MiB", verdict: atMost(float64(rss), 64<<20)},
		row{name: "podintd peak (VmHWM)", with: mib(float64(peak)), figure: mib(float64(peak))},
		row{name: "probes' BPF maps (kernel memory, outside podintd)", with: mib(float64(kernel)), figure: mib(float64(kernel))},
	)
	if got < uint64(pl.memFlows) {
		sec.notes = append(sec.notes, fmt.Sprintf("the daemon received %d of %d flow events", got, pl.memFlows))
	}
	sec.notes = append(sec.notes, "probes: veths attached with attach.Attach as the plugin does and registered over gRPC, without running the CNI chain; flows: one new-flow event each")
	return sec, nil
}

// addProbes creates count pod veths (peers in podsNS), attaches the
// node's probes to them and registers them with the daemon.
func (b *bench) addProbes(ctx context.Context, n *benchNode, podsNS *harness.NetNS, count int) error {
	podsFd, err := netlinkNsFd(podsNS)
	if err != nil {
		return err
	}
	defer podsFd.close()
	for i := 0; i < count; i++ {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		host, podIf := fmt.Sprintf("bench%04d", i), fmt.Sprintf("pod%04d", i)
		containerID := fmt.Sprintf("%064x", i+1)
		var ifindex int
		err := n.NS.Do(func() error {
			v := &netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: host}, PeerName: podIf, PeerNamespace: netlink.NsFd(podsFd.fd)}
			if err := netlink.LinkAdd(v); err != nil {
				return fmt.Errorf("create veth %s: %w", host, err)
			}
			l, err := netlink.LinkByName(host)
			if err != nil {
				return err
			}
			ifindex = l.Attrs().Index
			_, err = attach.Attach(n.Paths.PinDir, pins.ProbeID(containerID, podIf), ifindex, attach.Options{})
			return err
		})
		if err != nil {
			return err
		}
		_, err = n.client.Register(ctx, &podintv1.RegisterRequest{Probe: &podintv1.Probe{
			Ifindex: uint32(ifindex), HostInterface: host, Kind: podintv1.PortKind_PORT_KIND_POD, AttachMode: string(attach.TCX),
			Pod: &podintv1.Pod{Namespace: "bench", Name: fmt.Sprintf("pod-%d", i), Uid: fmt.Sprintf("uid-%d", i),
				ContainerId: containerID, Netns: podsNS.Path, Interface: podIf,
				Ips: []*podintv1.PodIP{{Address: fmt.Sprintf("10.24.%d.%d/16", i/250, i%250+1), Gateway: "10.24.0.1", Subnet: "10.24.0.0/16"}}},
		}})
		if err != nil {
			return fmt.Errorf("register probe %d: %w", i, err)
		}
		if i%100 == 99 {
			b.progress("memory: %d probes", i+1)
		}
	}
	return nil
}
