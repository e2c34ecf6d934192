package main

import (
	"fmt"
	"os"
	"runtime"
	"strconv"

	"golang.org/x/sys/unix"
)

// On a machine of a few cores, the pipeline benchmark gives podintd the
// last CPU and keeps itself (producer and collector) on the others, so
// the daemon's figure is one core's.

func daemonCPU() int { return runtime.NumCPU() - 1 }

// pinSelf binds every thread of this process to the CPUs other than the
// daemon's and returns a function that undoes it.
func pinSelf() (restore func(), err error) {
	var all, others unix.CPUSet
	if err := unix.SchedGetaffinity(0, &all); err != nil {
		return nil, err
	}
	for c := 0; c < runtime.NumCPU(); c++ {
		if c != daemonCPU() && all.IsSet(c) {
			others.Set(c)
		}
	}
	if others.Count() == 0 {
		return nil, fmt.Errorf("no CPU left for the benchmark beside the daemon's")
	}
	set := func(s *unix.CPUSet) error {
		tasks, err := os.ReadDir("/proc/self/task")
		if err != nil {
			return err
		}
		for _, t := range tasks {
			tid, _ := strconv.Atoi(t.Name())
			_ = unix.SchedSetaffinity(tid, s) // a thread may have exited meanwhile
		}
		return nil
	}
	if err := set(&others); err != nil {
		return nil, err
	}
	return func() { _ = set(&all) }, nil
}
