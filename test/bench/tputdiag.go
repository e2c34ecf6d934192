package main

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"
)

// roundDiag is what explains an iperf3 round's figure besides the figure:
// the two ends of the pair run on CPUs of their own, and which of them
// limits the round changes what the round costs. A UDP receiver that keeps
// up goes idle and every datagram that finds it asleep costs the sender a
// wake-up, an interrupt to the receiver's CPU; a receiver that does not keep up is never woken, and its socket
// drops what it cannot read. The probes move a 64-byte UDP round from the
// second regime to the first when they slow the client enough (issue 15),
// so the figure can carry both.
type roundDiag struct {
	sentPPS  float64 // UDP: datagrams the client sent per second
	readFrac float64 // UDP: the share of them the server read
	ipis     float64 // rescheduling and function-call interrupts per second on the server's CPU
	daemon   float64 // podintd's CPU time per second of the round, in seconds
}

// diagProbe is a round's start, for roundDiag.
type diagProbe struct {
	start  time.Time
	ipis   uint64
	daemon time.Duration
}

func startDiag(serverCPU, daemonPID int) diagProbe {
	p := diagProbe{start: time.Now()}
	p.ipis, _ = wakeIPIs(serverCPU)
	p.daemon, _ = processCPU(daemonPID)
	return p
}

// end completes the diagnosis of a round that ended with res.
func (p diagProbe) end(serverCPU, daemonPID int, res iperfResult) roundDiag {
	secs := time.Since(p.start).Seconds()
	var d roundDiag
	if ipis, err := wakeIPIs(serverCPU); err == nil && p.ipis > 0 {
		d.ipis = float64(ipis-p.ipis) / secs
	}
	if cpu, err := processCPU(daemonPID); err == nil {
		d.daemon = (cpu - p.daemon).Seconds() / secs
	}
	s := res.End.SumSent
	if s.Seconds > 0 && s.Packets > 0 {
		d.sentPPS = float64(s.Packets) / s.Seconds
		d.readFrac = res.receivedPPS() / d.sentPPS
	}
	return d
}

// wakeIPIs is the count of rescheduling (RES) and function-call (CAL)
// interrupts CPU cpu took (/proc/interrupts, x86): how a CPU that wakes a
// task on another, idle CPU tells it.
func wakeIPIs(cpu int) (uint64, error) {
	b, err := os.ReadFile("/proc/interrupts")
	if err != nil {
		return 0, err
	}
	var total uint64
	found := false
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) < cpu+2 || (f[0] != "RES:" && f[0] != "CAL:") {
			continue
		}
		v, err := strconv.ParseUint(f[cpu+1], 10, 64)
		if err != nil {
			return 0, fmt.Errorf("/proc/interrupts %s: %w", f[0], err)
		}
		total += v
		found = true
	}
	if !found {
		return 0, fmt.Errorf("/proc/interrupts: no RES or CAL line")
	}
	return total, nil
}

// diagNote says, per arm, what the rounds' diagnoses were (medians).
func diagNote(kind string, with, without []roundDiag) string {
	med := medianOf[roundDiag]
	both := func(f func(roundDiag) float64, format func(float64) string) string {
		return format(med(with, f)) + " / " + format(med(without, f))
	}
	note := kind + ", medians with / without podint:"
	if med(without, func(d roundDiag) float64 { return d.sentPPS }) > 0 {
		note += " the client sent " + both(func(d roundDiag) float64 { return d.sentPPS }, rate) + " pkt/s, the server read " +
			both(func(d roundDiag) float64 { return d.readFrac }, pct) + " of them (its socket dropped the rest);"
	}
	note += " interrupts that woke the server's CPU " + both(func(d roundDiag) float64 { return d.ipis }, rate) + " per s;" +
		" podintd's CPU time " + both(func(d roundDiag) float64 { return d.daemon * 1e3 }, func(v float64) string { return fmt.Sprintf("%.1f", v) }) + " ms per s"
	return note
}

// medianOf is the median of f over xs.
func medianOf[T any](xs []T, f func(T) float64) float64 {
	vs := make([]float64, len(xs))
	for i, x := range xs {
		vs[i] = f(x)
	}
	return summarize(vs).median
}
