package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os/exec"
	"strconv"
	"syscall"
	"time"

	"github.com/podint/podint/test/harness"
)

const iperfPort = "5201"

// iperfResult is what an iperf3 client reports (-J): the receiver's side,
// and the sender's.
type iperfResult struct {
	End struct {
		SumReceived iperfSum `json:"sum_received"`
		SumSent     iperfSum `json:"sum_sent"`
	} `json:"end"`
	Error string `json:"error"`
}

// iperfSum is one side's totals; for UDP, packets on the receiver's side
// are the datagrams the sender numbered, lost_packets those that never
// arrived.
type iperfSum struct {
	Seconds       float64 `json:"seconds"`
	BitsPerSecond float64 `json:"bits_per_second"`
	Packets       uint64  `json:"packets"`
	LostPackets   uint64  `json:"lost_packets"`
}

// receivedPPS is the datagrams per second that reached the server.
func (r iperfResult) receivedPPS() float64 {
	s := r.End.SumReceived
	if s.Seconds == 0 || s.LostPackets > s.Packets {
		return 0
	}
	return float64(s.Packets-s.LostPackets) / s.Seconds
}

// startIperfServer runs an iperf3 server in the pod on the given CPU until
// cleanup, and returns its process id (taskset execs iperf3 in place).
func (b *bench) startIperfServer(ctx context.Context, p *harness.Pod, cpu int) (int, error) {
	cmd := exec.CommandContext(ctx, "taskset", "-c", strconv.Itoa(cpu), "iperf3", "-s", "-B", p.IP.String(), "-p", iperfPort)
	if err := p.NS.Start(cmd); err != nil {
		return 0, fmt.Errorf("start iperf3 server (apt-get install iperf3): %w", err)
	}
	b.cleanup.push(func() { cmd.Process.Kill(); cmd.Wait() })
	time.Sleep(200 * time.Millisecond) // until it listens; a client retries anyway
	return cmd.Process.Pid, nil
}

// iperf runs an iperf3 client in the pod on the given CPU against server.
func iperf(ctx context.Context, p *harness.Pod, cpu int, server string, args ...string) (iperfResult, error) {
	var res iperfResult
	var lastErr error
	for attempt := 0; attempt < 3; attempt++ {
		full := append([]string{"-c", strconv.Itoa(cpu), "iperf3", "-c", server, "-p", iperfPort, "-J"}, args...)
		cmd := exec.CommandContext(ctx, "taskset", full...)
		cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
		var out []byte
		err := p.NS.Do(func() (err error) { out, err = cmd.Output(); return err })
		res = iperfResult{}
		if jerr := json.Unmarshal(out, &res); jerr == nil && res.Error == "" && err == nil {
			return res, nil
		}
		lastErr = fmt.Errorf("iperf3 %v: %v %s", args, err, res.Error)
		if ctx.Err() != nil {
			return res, ctx.Err()
		}
		time.Sleep(300 * time.Millisecond) // the server may still be busy with the previous test
	}
	return res, lastErr
}
