package main

import (
	"context"
	"encoding/binary"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"strconv"
	"time"

	"github.com/podint/podint/internal/intreport"
	"github.com/podint/podint/test/harness"
)

// reportInterval is the daemon's default --report-interval, which the
// benchmark nodes run with.
const reportInterval = time.Second

// perInterval is how many reports a flow got per report interval in its
// steady state: its first report (the new flow) and its last (often the
// FIN) are left out, and the rest are spread over the flow's lifetime. A
// flow reported for less than two intervals has no steady state to judge.
func perInterval(times []time.Time) (float64, bool) {
	if len(times) < 3 {
		return 0, false
	}
	t := slices.Clone(times)
	slices.SortFunc(t, func(a, b time.Time) int { return a.Compare(b) })
	life := t[len(t)-1].Sub(t[0])
	if life < 2*reportInterval {
		return 0, false
	}
	return float64(len(t)-2) * float64(reportInterval) / float64(life), true
}

// worstFlow is the highest steady-state reports per interval among flows.
func worstFlow(flows map[intreport.Flow]*flowSeen, match func(intreport.Flow) bool) (worst float64, n int) {
	for f, s := range flows {
		if !match(f) {
			continue
		}
		if v, ok := perInterval(s.times); ok {
			worst = max(worst, v)
			n++
		}
	}
	return worst, n
}

func (b *bench) measureVolume(ctx context.Context, n *benchNode, a, s *harness.Pod, fullSpeed map[intreport.Flow]*flowSeen, sec *section) error {
	pl := b.plan
	between := func(f intreport.Flow) bool {
		return (f.Src == a.IP && f.Dst == s.IP) || (f.Src == s.IP && f.Dst == a.IP)
	}
	// A long steady flow at a moderate rate.
	b.progress("volume: steady TCP flow for %d s", pl.steadySeconds)
	n.collector.startRecording()
	if _, err := iperf(ctx, a, 0, s.IP.String(), "-b", "50M", "-t", strconv.Itoa(pl.steadySeconds)); err != nil {
		return err
	}
	time.Sleep(300 * time.Millisecond)
	steadyDelays := n.collector.recordedDelays()
	steady := n.collector.recorded()
	worst, flows := worstFlow(steady, func(f intreport.Flow) bool { return between(f) && f.Proto == intreport.ProtoTCP })
	if flows == 0 {
		sec.notes = append(sec.notes, "steady flow: no flow had enough reports to measure")
	} else {
		sec.rows = append(sec.rows, row{name: fmt.Sprintf("reports per flow per interval (1 s), steady 50 Mbit/s TCP, %d s", pl.steadySeconds),
			with: fmt.Sprintf("%.2f", worst), figure: fmt.Sprintf("%.2f", worst), goal: "≤ 1.2", verdict: atMost(worst, 1.2)})
	}
	if w, nf := worstFlow(fullSpeed, between); nf > 0 {
		sec.rows = append(sec.rows, row{name: "reports per flow per interval, the iperf3 rounds at full speed",
			with: fmt.Sprintf("%.2f", w), figure: fmt.Sprintf("%.2f", w), goal: "≤ 1.2", verdict: atMost(w, 1.2)})
	}
	sec.notes = append(sec.notes, "reports per interval: the worst flow (both directions count), leaving out its first (new flow) and last (FIN) report")
	sec.rows = append(sec.rows, delayRow("report delay, packet to collector, steady flow (reports 1/s)", steadyDelays))

	// New flows: two packets each; the report must carry the first.
	b.progress("volume: %d new flows", pl.newFlows)
	first, reported, err := newFlowsReported(ctx, n, a, s, pl.newFlows)
	if err != nil {
		return err
	}
	sec.rows = append(sec.rows, delayRow(fmt.Sprintf("report delay, packet to collector, burst of %d new flows", pl.newFlows), n.collector.recordedDelays()))
	share := float64(first) / float64(pl.newFlows)
	sec.rows = append(sec.rows, row{name: fmt.Sprintf("new flows whose first packet was reported (%d UDP flows)", pl.newFlows),
		with: fmt.Sprintf("%d of %d", first, pl.newFlows), figure: pct(share), goal: "100%", verdict: atLeast(share, 1)})
	if reported > first {
		sec.notes = append(sec.notes, fmt.Sprintf("%d flows were reported only by a later packet", reported-first))
	}
	return nil
}

// newFlowMark starts the payload of the new-flow packets: mark, packet
// number in the flow, flow number.
const newFlowMark = 0xb7

// newFlowsReported sends count UDP flows of two packets each from pod a to
// pod s (distinct destination ports) and counts the flows whose first
// packet the collector received a report of, and the flows reported at all.
func newFlowsReported(ctx context.Context, n *benchNode, a, s *harness.Pod, count int) (first, reported int, err error) {
	conn, err := a.ListenUDP(0)
	if err != nil {
		return 0, 0, err
	}
	defer conn.Close()
	n.collector.startRecording()
	msg := make([]byte, 16)
	msg[0] = newFlowMark
	for i := 0; i < count; i++ {
		binary.BigEndian.PutUint16(msg[2:], uint16(i))
		dst := netip.AddrPortFrom(s.IP, uint16(20000+i))
		for pkt := byte(0); pkt < 2; pkt++ {
			msg[1] = pkt
			if _, err := conn.WriteToUDPAddrPort(msg, dst); err != nil {
				return 0, 0, fmt.Errorf("send new flow %d: %w", i, err)
			}
		}
		if i%1000 == 999 && ctx.Err() != nil {
			return 0, 0, ctx.Err()
		}
	}
	// Wait until reports stop arriving.
	last := n.collector.reports.Load()
	for idle := 0; idle < 5; {
		time.Sleep(100 * time.Millisecond)
		if now := n.collector.reports.Load(); now == last {
			idle++
		} else {
			idle, last = 0, now
		}
	}
	sport := uint16(conn.LocalAddr().(*net.UDPAddr).Port)
	for f, seen := range n.collector.recorded() {
		if f.Proto != intreport.ProtoUDP || f.Src != a.IP || f.Dst != s.IP || f.SrcPort != sport ||
			f.DstPort < 20000 || int(f.DstPort) >= 20000+count {
			continue
		}
		reported++
		for _, p := range seen.payload {
			if p[0] == newFlowMark && p[1] == 0 {
				first++
				break
			}
		}
	}
	return first, reported, nil
}

// delayRow shows p50 / p99 of report delays: from a packet's egress probe to
// its report's arrival at the collector (ring buffer, the daemon's reader
// and exporter, UDP on loopback).
func delayRow(name string, delays []float64) row {
	if len(delays) == 0 {
		return row{name: name, with: "no reports"}
	}
	fig := fmt.Sprintf("%s / %s", durNs(percentile(delays, 50)), durNs(percentile(delays, 99)))
	return row{name: name + ", p50 / p99", with: fmt.Sprintf("%d reports", len(delays)), figure: fig}
}

func durNs(ns float64) string { return time.Duration(ns).Round(10 * time.Microsecond).String() }
