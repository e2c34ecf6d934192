package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// processCPU is the CPU time every thread of process pid has run, from the
// scheduler's own accounting (/proc/PID/task/*/schedstat, in ns): what a
// process costs, however many other processes share its CPU.
func processCPU(pid int) (time.Duration, error) {
	files, err := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/schedstat", pid))
	if err != nil || len(files) == 0 {
		return 0, fmt.Errorf("CPU time of process %d: no tasks", pid)
	}
	var total time.Duration
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			continue // a thread that ended meanwhile
		}
		ns, err := strconv.ParseInt(strings.Fields(string(b))[0], 10, 64)
		if err != nil {
			return 0, fmt.Errorf("%s: %w", f, err)
		}
		total += time.Duration(ns)
	}
	return total, nil
}

// softirqTime is the time CPU cpu spent in softirqs (/proc/stat, in
// USER_HZ ticks of 10 ms): where the kernel delivers a loopback datagram
// when its time is not charged to the sender.
func softirqTime(cpu int) (time.Duration, error) {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0, err
	}
	want := fmt.Sprintf("cpu%d", cpu)
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) > 7 && f[0] == want {
			ticks, err := strconv.ParseInt(f[7], 10, 64)
			if err != nil {
				return 0, fmt.Errorf("/proc/stat %s: %w", want, err)
			}
			return time.Duration(ticks) * 10 * time.Millisecond, nil
		}
	}
	return 0, fmt.Errorf("/proc/stat: no %s", want)
}
