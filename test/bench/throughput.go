package main

import (
	"context"
	"fmt"
	"runtime"
	"strconv"
	"strings"

	"github.com/podint/podint/test/harness"
)

// Pod-to-pod throughput through the node's bridge, with the probes
// attached and reporting against the same pair of pods without them:
// podint's own DEL takes the probes off the two veths and its ADD puts
// them back, as a runtime would run it. Rounds alternate (with, without,
// without, with, ...) so that drift of a noisy machine falls on both; the
// figure is the median of the ratios of neighbouring rounds.

func measureThroughputAndVolume(ctx context.Context, b *bench) (section, error) {
	sec := section{title: "pod-to-pod through the bridge (iperf3)"}
	n, err := b.startNode(ctx, nodeOptions{name: "tput", subnet: "10.22.0.0/24"})
	if err != nil {
		return sec, err
	}
	a, err := b.addPod(ctx, n, "client")
	if err != nil {
		return sec, err
	}
	s, err := b.addPod(ctx, n, "server")
	if err != nil {
		return sec, err
	}
	clientCPU, serverCPU := 0, runtime.NumCPU()-1
	serverPID, err := b.startIperfServer(ctx, s, serverCPU)
	if err != nil {
		return sec, err
	}
	pl := b.plan
	secs := strconv.Itoa(pl.tputSeconds)
	kinds := []struct {
		name, unit string
		args       []string
		figure     func(iperfResult) float64
		goal       float64
	}{
		{"TCP, one stream", "bit/s", []string{"-t", secs, "-O", "1"},
			func(r iperfResult) float64 { return r.End.SumReceived.BitsPerSecond }, 0.99},
		{"UDP, 64-byte payloads", "pkt/s", []string{"-u", "-l", "64", "-b", "0", "-w", "4M", "-t", secs, "-O", "1"},
			iperfResult.receivedPPS, 0.97},
	}
	attached := true
	satSentPPS := 0.0 // UDP datagrams/s a saturated client sent without probes
	n.collector.startRecording()
	causes0, err := n.stats(ctx)
	if err != nil {
		return sec, err
	}
	for _, k := range kinds {
		var with, without, ratios []float64
		var diagWith, diagWithout []roundDiag
		for i := 0; i < 2*pl.tputPairs; i++ {
			if ctx.Err() != nil {
				return sec, ctx.Err()
			}
			probes := i%4 == 0 || i%4 == 3 // with, without, without, with
			if probes != attached {
				if err := b.setProbes(ctx, n, probes, a, s); err != nil {
					return sec, err
				}
				attached = probes
			}
			b.progress("throughput: %s round %d/%d, probes %v", k.name, i+1, 2*pl.tputPairs, probes)
			diag := startDiag(serverCPU, n.DaemonPID())
			res, err := iperf(ctx, a, clientCPU, s.IP.String(), k.args...)
			if err != nil {
				return sec, err
			}
			v, d := k.figure(res), diag.end(serverCPU, n.DaemonPID(), res)
			if probes {
				with, diagWith = append(with, v), append(diagWith, d)
			} else {
				without, diagWithout = append(without, v), append(diagWithout, d)
			}
			if i%2 == 1 {
				ratios = append(ratios, with[len(with)-1]/without[len(without)-1])
			}
		}
		ws, wos, rs := summarize(with), summarize(without), summarize(ratios)
		sec.rows = append(sec.rows, row{name: k.name, with: rate(ws.median) + " " + k.unit, without: rate(wos.median) + " " + k.unit,
			figure: fmt.Sprintf("%s [%s–%s]", pct(rs.median), pct(rs.min), pct(rs.max)),
			goal:   "≥ " + pct(k.goal), verdict: atLeast(rs.median, k.goal)})
		sec.notes = append(sec.notes, diagNote(k.name, diagWith, diagWithout))
		if k.unit == "pkt/s" {
			satSentPPS = medianOf(diagWithout, func(d roundDiag) float64 { return d.sentPPS })
		}
	}
	fullSpeed := n.collector.recorded()
	if causes1, err := n.stats(ctx); err == nil {
		sec.notes = append(sec.notes, "flow events by cause during the full-speed rounds (an event may have several): "+causeCounts(causes0, causes1))
	}
	cpuRows, cpuNote, err := b.measureFixedRateCPU(ctx, n, a, s, &attached, clientCPU, serverCPU, serverPID, satSentPPS)
	if err != nil {
		return sec, err
	}
	sec.rows = append(sec.rows, cpuRows...)
	sec.notes = append(sec.notes, cpuNote)
	if !attached {
		if err := b.setProbes(ctx, n, true, a, s); err != nil {
			return sec, err
		}
	}
	hooks, err := n.podHooks(ctx)
	if err != nil {
		return sec, err
	}
	sec.notes = append(sec.notes, "podint's entry: "+n.podSide+"; the probes run at each pod's host veth (TCX ingress and egress) and "+hooks)
	sec.notes = append(sec.notes, fmt.Sprintf("%d rounds of %ss each way (after 1 s omitted), client on CPU %d, server on CPU %d; figure = median [range] of with/without over neighbouring rounds",
		2*pl.tputPairs, secs, clientCPU, serverCPU))
	if err := b.measureVolume(ctx, n, a, s, fullSpeed, &sec); err != nil {
		return sec, err
	}
	return sec, nil
}

// setProbes attaches or detaches the probes of the pods' veths.
func (b *bench) setProbes(ctx context.Context, n *benchNode, on bool, pods ...*harness.Pod) error {
	for _, p := range pods {
		var err error
		if on {
			err = n.attach(ctx, p)
		} else {
			err = n.detach(ctx, p)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// addPod adds a pod through the node's whole chain, deleted at cleanup.
func (b *bench) addPod(ctx context.Context, n *benchNode, name string) (*harness.Pod, error) {
	p, err := n.AddPod(ctx, name)
	if err != nil {
		return nil, err
	}
	b.cleanup.push(func() { n.DelPod(context.Background(), p) })
	return p, nil
}

// causeCounts says how many flow events each cause produced between two
// reads of the daemon's counters (kernel_events_<cause>).
func causeCounts(before, after map[string]uint64) string {
	var parts []string
	for _, c := range []string{"new_flow", "interval", "latency", "tcp_end", "port_change"} {
		k := "kernel_events_" + c
		parts = append(parts, fmt.Sprintf("%s %d", c, after[k]-before[k]))
	}
	return strings.Join(parts, ", ")
}
