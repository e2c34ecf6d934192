package main

import (
	"context"
	"fmt"
	"net"
	"sync/atomic"
	"time"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
	"github.com/cilium/ebpf/link"
	"github.com/cilium/ebpf/ringbuf"
	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/podint/podint/bpf"
	"github.com/podint/podint/test/harness"
)

// The drop probe is a tracing program: BPF_PROG_TEST_RUN cannot run it.
// Its cost is read from the kernel's BPF statistics (run time and run
// count per program) while a namespace of the benchmark drops UDP packets
// sent to a closed port through a probed veth, next to an empty program on
// the same tracepoint, which pays the same tracepoint and statistics costs.

const (
	dropNodeAddr = "10.77.0.1"
	dropPeerAddr = "10.77.0.2"
	dropPort     = 9 // nothing listens: every datagram is a NO_SOCKET drop
)

// emptyKfreeSkb attaches a program that does nothing to tp_btf/kfree_skb.
func emptyKfreeSkb() (*ebpf.Program, link.Link, error) {
	prog, err := ebpf.NewProgram(&ebpf.ProgramSpec{
		Name: "bench_empty_drop", Type: ebpf.Tracing, AttachType: ebpf.AttachTraceRawTp, AttachTo: "kfree_skb",
		License: "GPL", Instructions: asm.Instructions{asm.Mov.Imm(asm.R0, 0), asm.Return()},
	})
	if err != nil {
		return nil, nil, fmt.Errorf("load empty kfree_skb program: %w", err)
	}
	l, err := link.AttachTracing(link.TracingOptions{Program: prog})
	if err != nil {
		prog.Close()
		return nil, nil, fmt.Errorf("attach empty kfree_skb program: %w", err)
	}
	return prog, l, nil
}

// dropPair is a node namespace whose veth (a probed port) leads to a peer
// namespace that sends it datagrams.
type dropPair struct {
	node, peer *harness.NetNS
	ifindex    int
}

func (b *bench) newDropPair() (*dropPair, error) {
	node, err := harness.NewNamespace("drop-node")
	if err != nil {
		return nil, err
	}
	b.cleanup.push(func() { node.Delete() })
	peer, err := harness.NewNamespace("drop-peer")
	if err != nil {
		return nil, err
	}
	b.cleanup.push(func() { peer.Delete() })
	steps := [][]string{
		{"ip", "-n", node.Name, "link", "add", "port0", "type", "veth", "peer", "name", "eth0", "netns", peer.Name},
		{"ip", "-n", node.Name, "addr", "add", dropNodeAddr + "/24", "dev", "port0"},
		{"ip", "-n", node.Name, "link", "set", "port0", "up"},
		{"ip", "-n", peer.Name, "addr", "add", dropPeerAddr + "/24", "dev", "eth0"},
		{"ip", "-n", peer.Name, "link", "set", "eth0", "up"},
	}
	for _, s := range steps {
		if err := runCmd(s...); err != nil {
			return nil, err
		}
	}
	d := &dropPair{node: node, peer: peer}
	err = node.Do(func() error {
		l, err := netlink.LinkByName("port0")
		if err != nil {
			return err
		}
		d.ifindex = l.Attrs().Index
		return nil
	})
	return d, err
}

// sendUntil sends 18-byte datagrams from the peer to the node's closed
// port until stop is set, and returns how many it sent.
func (d *dropPair) sendUntil(stop *atomic.Bool) (uint64, error) {
	var conn *net.UDPConn
	err := d.peer.Do(func() (err error) {
		conn, err = net.DialUDP("udp", nil, &net.UDPAddr{IP: net.ParseIP(dropNodeAddr), Port: dropPort})
		return err
	})
	if err != nil {
		return 0, err
	}
	defer conn.Close()
	msg := make([]byte, 18)
	var n uint64
	for !stop.Load() {
		// ICMP port unreachable answers make some writes fail: ignore them.
		if _, err := conn.Write(msg); err == nil {
			n++
		}
	}
	return n, nil
}

type progRun struct{ runtime, count uint64 }

func readStats(p *ebpf.Program) (progRun, error) {
	s, err := p.Stats()
	if err != nil {
		return progRun{}, err
	}
	return progRun{uint64(s.Runtime), s.RunCount}, nil
}

func measureDropCost(ctx context.Context, b *bench) (section, error) {
	pl := b.plan
	sec := section{title: "BPF drop tracepoint (BPF statistics)"}
	pair, err := b.newDropPair()
	if err != nil {
		return sec, err
	}
	pin, err := b.bpffsDir()
	if err != nil {
		return sec, err
	}
	var probes *bpf.Collection
	// Loaded inside the node's namespace: drops are counted for the
	// namespace the probes were loaded in.
	if err := pair.node.Do(func() (err error) { probes, err = b.loadProbes(pin+"/drop", bpf.DefaultSettings); return err }); err != nil {
		return sec, err
	}
	if err := probes.AddPort(pair.ifindex); err != nil {
		return sec, err
	}
	if err := probes.AttachDrops(); err != nil {
		return sec, err
	}
	b.cleanup.push(func() { bpf.DetachDrops(pin + "/drop") })
	empty, el, err := emptyKfreeSkb()
	if err != nil {
		return sec, err
	}
	b.cleanup.push(func() { el.Close(); empty.Close() })
	stats, err := ebpf.EnableStats(uint32(unix.BPF_STATS_RUN_TIME))
	if err != nil {
		return sec, fmt.Errorf("enable BPF statistics: %w", err)
	}
	b.cleanup.push(func() { stats.Close() })
	rd, err := ringbuf.NewReader(probes.Events())
	if err != nil {
		return sec, err
	}
	b.cleanup.push(func() { rd.Close() })
	go func() { // the report path writes an event per drop: keep room for them
		var rec ringbuf.Record
		for rd.ReadInto(&rec) == nil {
		}
	}()

	type mode struct {
		name     string
		interval time.Duration
		terms    []string // --drop-reasons
		expect   int      // counter every drop of this mode increments; -1: kernel_drops_excluded
		drop     []float64
		base     []float64
		share    []float64 // of the probe's runs, drops of the probed port
	}
	modes := []*mode{
		{name: "drop of a probed port, rate-limited (same flow)", interval: time.Second, expect: counterIndex("drops_suppressed")},
		{name: "drop of a probed port, reported (interval 0)", interval: 0, expect: bpf.CounterEvents},
		{name: "drop of a probed port, reason not reported (--drop-reasons=-NO_SOCKET)", interval: 0, terms: []string{"-NO_SOCKET"}, expect: -1},
	}
	// count reads what every drop of mode m increments.
	count := func(m *mode) (uint64, error) {
		if m.expect < 0 {
			ex, err := probes.DropsExcluded()
			return ex["NO_SOCKET"], err
		}
		c, err := probes.Counters()
		if err != nil {
			return 0, err
		}
		return c[m.expect], nil
	}
	for r := 0; r < pl.dropRounds; r++ {
		for _, m := range modes {
			if ctx.Err() != nil {
				return sec, ctx.Err()
			}
			s := bpf.DefaultSettings
			s.ReportInterval = m.interval
			if err := probes.SetSettings(s); err != nil {
				return sec, err
			}
			pol, err := bpf.ResolveDropPolicy(m.terms)
			if err != nil {
				return sec, err
			}
			if err := probes.SetDropPolicy(pol); err != nil {
				return sec, err
			}
			c0, err := count(m)
			if err != nil {
				return sec, err
			}
			d0, err1 := readStats(probes.DropProgram())
			e0, err2 := readStats(empty)
			if err1 != nil || err2 != nil {
				return sec, fmt.Errorf("read BPF statistics: %v %v", err1, err2)
			}
			var stop atomic.Bool
			time.AfterFunc(pl.dropWindow, func() { stop.Store(true) })
			if _, err := pair.sendUntil(&stop); err != nil {
				return sec, err
			}
			d1, _ := readStats(probes.DropProgram())
			e1, _ := readStats(empty)
			c1, err := count(m)
			if err != nil {
				return sec, err
			}
			if d1.count == d0.count || e1.count == e0.count {
				return sec, fmt.Errorf("no kfree_skb runs counted: are BPF statistics working?")
			}
			m.drop = append(m.drop, float64(d1.runtime-d0.runtime)/float64(d1.count-d0.count))
			m.base = append(m.base, float64(e1.runtime-e0.runtime)/float64(e1.count-e0.count))
			m.share = append(m.share, float64(c1-c0)/float64(d1.count-d0.count))
		}
	}
	for _, m := range modes {
		s, base := summarize(m.drop), summarize(m.base)
		net := s.median - base.median
		r := row{name: m.name, with: nsRange(s), without: ns(base.median) + " empty", figure: fmt.Sprintf("+%.0f ns", net)}
		sec.rows = append(sec.rows, r)
		if sh := summarize(m.share).median; sh < 0.9 {
			sec.notes = append(sec.notes, fmt.Sprintf("%q: only %s of the probe's runs took that path (other kfree_skb calls on the machine ran it too)", m.name, pct(sh)))
		}
	}
	sec.notes = append(sec.notes, fmt.Sprintf("run time / run count from BPF statistics over %d windows of %s of UDP to a closed port through a probed veth, against an empty tp_btf/kfree_skb program attached alongside; no goal of its own (a drop is not a per-packet cost)",
		pl.dropRounds, pl.dropWindow))
	return sec, nil
}
