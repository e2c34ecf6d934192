package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/podint/podint/test/harness"
)

// The saturated 64-byte UDP ratio flips between regimes (tputdiag.go), so
// next to it the stage measures what the probes cost per packet at a rate
// both arms sustain: one iperf3 client paced at cpuRatePPS for the whole
// measurement, the probes taken off and put back between windows, with a
// third arm of empty TCX programs on the probes' hooks (emptyhooks.go), and
// in each window the client's CPU time per datagram it sent. A veth delivers through the sending CPU's backlog,
// in the softirq the sender's own send returns through, and this kernel
// has no IRQ time accounting (softirq time is charged to the task it
// interrupted), so the client's CPU time carries every hook the datagram
// meets on its way into the server's socket. At a fixed rate the server
// idles between bursts in both arms, so its wake-ups are alike. One client
// for all windows leaves out its start and its end, and windows of a
// second or two alternate faster than the machine's other load changes.

// cpuRatePPS is the fixed rate: well under the 110-150k pkt/s both arms
// reach saturated on the bench machine, so that a loaded machine still
// sustains it.
const cpuRatePPS = 40_000

// cpuWindow is one window's CPU time per datagram sent, in ns.
type cpuWindow struct {
	sentPPS        float64
	client, server float64
}

// cpuSample is what a window's two ends read.
type cpuSample struct {
	at             time.Time
	client, server time.Duration
	sent           uint64
}

func sampleCPU(clientPID int, server []int) (cpuSample, error) {
	s := cpuSample{at: time.Now(), server: tasksCPU(server)}
	var err error
	if s.client, err = processCPU(clientPID); err != nil {
		return s, err
	}
	s.sent, err = udpSent(clientPID)
	return s, err
}

// fixedRateArm is what the probes' hooks run in a fixed-rate window.
type fixedRateArm string

const (
	armProbes     fixedRateArm = "probes"
	armNone       fixedRateArm = "no probes"
	armEmptyHooks fixedRateArm = "empty TCX programs"
)

// measureFixedRateCPU runs the fixed-rate windows and returns their rows
// (the probes' cost, the empty programs') and a note. satSentPPS, the datagrams/s a saturated client sent without
// the probes, turns the added CPU into the rate a CPU-bound sender keeps.
func (b *bench) measureFixedRateCPU(ctx context.Context, n *benchNode, a, s *harness.Pod, attached *bool, clientCPU, serverCPU, serverPID int, satSentPPS float64) ([]row, string, error) {
	pl := b.plan
	// Three arms rotate in groups of one window each (probes, none, empty
	// hooks; then the reverse order), so that each group gives a pair of
	// differences from the same moment.
	windows := 3 * pl.cpuPairs
	empty, err := newEmptyHooks()
	if err != nil {
		return nil, "", err
	}
	defer empty.close()
	emptyOn := false
	// long enough for every window and toggle on a slow machine; the
	// client is interrupted after the last window
	secs := strconv.Itoa(2 + windows*int(pl.cpuWindow/time.Second+3))
	cmd := exec.CommandContext(ctx, "taskset", "-c", strconv.Itoa(clientCPU), "iperf3", "-c", s.IP.String(), "-p", iperfPort,
		"-u", "-l", "64", "-b", strconv.Itoa(cpuRatePPS*64*8), "-t", secs)
	if err := a.NS.Start(cmd); err != nil {
		return nil, "", fmt.Errorf("start iperf3 client: %w", err)
	}
	stopped := false
	stop := func() {
		if !stopped {
			stopped = true
			cmd.Process.Signal(syscall.SIGINT) // the client tells the server it ends
			cmd.Wait()
		}
	}
	defer stop()
	server := []int{serverPID, ksoftirqd(clientCPU), ksoftirqd(serverCPU)}
	time.Sleep(time.Second) // the control connection, the first datagrams
	var with, without, hooks []cpuWindow
	var added, addedHooks []float64
	for i := 0; i < windows; i++ {
		if ctx.Err() != nil {
			return nil, "", ctx.Err()
		}
		arm := []fixedRateArm{armProbes, armNone, armEmptyHooks}[i%3]
		if (i/3)%2 == 1 {
			arm = []fixedRateArm{armEmptyHooks, armNone, armProbes}[i%3]
		}
		if arm != armEmptyHooks && emptyOn {
			empty.detach()
			emptyOn = false
		}
		if probes := arm == armProbes; probes != *attached {
			if err := b.setProbes(ctx, n, probes, a, s); err != nil {
				return nil, "", err
			}
			*attached = probes
		}
		if arm == armEmptyHooks && !emptyOn {
			if err := empty.attach(n, a, s); err != nil {
				return nil, "", err
			}
			emptyOn = true
		}
		b.progress("throughput: UDP at %d pkt/s, CPU window %d/%d, %s", cpuRatePPS, i+1, windows, arm)
		time.Sleep(200 * time.Millisecond) // past the attach or detach's work
		s0, err := sampleCPU(cmd.Process.Pid, server)
		if err != nil {
			return nil, "", err
		}
		time.Sleep(pl.cpuWindow)
		s1, err := sampleCPU(cmd.Process.Pid, server)
		if err != nil {
			return nil, "", fmt.Errorf("iperf3 client at %d pkt/s: %w", cpuRatePPS, err)
		}
		pkts := float64(s1.sent - s0.sent)
		if pkts == 0 {
			return nil, "", fmt.Errorf("iperf3 client at %d pkt/s sent nothing in a window", cpuRatePPS)
		}
		w := cpuWindow{sentPPS: pkts / s1.at.Sub(s0.at).Seconds(), client: float64(s1.client-s0.client) / pkts,
			server: float64(s1.server-s0.server) / pkts}
		switch arm {
		case armProbes:
			with = append(with, w)
		case armNone:
			without = append(without, w)
		default:
			hooks = append(hooks, w)
		}
		if i%3 == 2 {
			base := without[len(without)-1].client
			added = append(added, with[len(with)-1].client-base)
			addedHooks = append(addedHooks, hooks[len(hooks)-1].client-base)
		}
	}
	stop()
	empty.detach()
	client := func(w cpuWindow) float64 { return w.client }
	ad := summarize(added)
	rw := row{name: fmt.Sprintf("UDP, 64-byte at %s pkt/s: client CPU per packet", rate(cpuRatePPS)),
		with: ns(medianOf(with, client)), without: ns(medianOf(without, client)),
		figure: fmt.Sprintf("+%.0f ns [%.0f–%.0f]", ad.median, ad.min, ad.max)}
	if satSentPPS > 0 {
		// a sender whose CPU is the limit spends 1/rate per datagram
		t0 := 1e9 / satSentPPS
		kept := func(d float64) float64 { return t0 / (t0 + d) }
		rw.figure += fmt.Sprintf(" → %s [%s–%s] of a CPU-bound sender's rate", pct(kept(ad.median)), pct(kept(ad.max)), pct(kept(ad.min)))
		rw.goal, rw.verdict = "≥ "+pct(0.97), atLeast(kept(ad.median), 0.97)
	}
	ah := summarize(addedHooks)
	own := make([]float64, len(added))
	for i := range added {
		own[i] = added[i] - addedHooks[i]
	}
	hooksRow := row{name: fmt.Sprintf("UDP, 64-byte at %s pkt/s: client CPU per packet, empty TCX programs on the probes' hooks", rate(cpuRatePPS)),
		with: ns(medianOf(hooks, client)), without: ns(medianOf(without, client)),
		figure: fmt.Sprintf("+%.0f ns [%.0f–%.0f]: the hooks' own cost; the probes' work beyond it +%.0f ns", ah.median, ah.min, ah.max, summarize(own).median)}
	note := fmt.Sprintf("UDP at a fixed %s pkt/s: one iperf3 client, %d windows of %s in groups of three (probes, none, empty TCX programs on the probes' hooks; then the reverse order), medians with / without podint: sent %s / %s pkt/s; CPU per datagram of the client %s / %s (its sends and the softirqs that carry each datagram through both veths, the bridge and every probe into the server's socket), of the server %s / %s (its reads, and both CPUs' ksoftirqd); figure = median [range] over the groups of the client's added CPU per datagram against the group's window without, and the share of its rate a client keeps that spends 1/(the saturated rate without podint above) per datagram",
		rate(cpuRatePPS), windows, pl.cpuWindow,
		rate(medianOf(with, func(w cpuWindow) float64 { return w.sentPPS })), rate(medianOf(without, func(w cpuWindow) float64 { return w.sentPPS })),
		ns(medianOf(with, client)), ns(medianOf(without, client)),
		ns(medianOf(with, func(w cpuWindow) float64 { return w.server })), ns(medianOf(without, func(w cpuWindow) float64 { return w.server })))
	return []row{rw, hooksRow}, note, nil
}

// udpSent is the UDP datagrams sent in the network namespace of process
// pid (OutDatagrams of /proc/PID/net/snmp).
func udpSent(pid int) (uint64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/net/snmp", pid))
	if err != nil {
		return 0, err
	}
	var names []string
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) == 0 || f[0] != "Udp:" {
			continue
		}
		if names == nil {
			names = f
			continue
		}
		for i, name := range names {
			if name == "OutDatagrams" && i < len(f) {
				return strconv.ParseUint(f[i], 10, 64)
			}
		}
	}
	return 0, fmt.Errorf("/proc/%d/net/snmp: no Udp OutDatagrams", pid)
}

// ksoftirqd is the process id of CPU cpu's softirq thread, or 0.
func ksoftirqd(cpu int) int {
	want := fmt.Sprintf("ksoftirqd/%d", cpu)
	comms, _ := filepath.Glob("/proc/[0-9]*/comm")
	for _, f := range comms {
		b, err := os.ReadFile(f)
		if err == nil && strings.TrimSpace(string(b)) == want {
			pid, _ := strconv.Atoi(filepath.Base(filepath.Dir(f)))
			return pid
		}
	}
	return 0
}

// tasksCPU is the CPU time of the processes (0 ones skipped).
func tasksCPU(pids []int) time.Duration {
	var total time.Duration
	for _, pid := range pids {
		if pid == 0 {
			continue
		}
		if t, err := processCPU(pid); err == nil {
			total += t
		}
	}
	return total
}
