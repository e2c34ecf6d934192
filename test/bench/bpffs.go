package main

import (
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/cilium/ebpf/ringbuf"
	"golang.org/x/sys/unix"

	"github.com/podint/podint/bpf"
)

// bpffsDir mounts a private bpffs on a new temporary directory, so the
// benchmark's pins never meet a node's or another run's; it is unmounted
// and removed at cleanup.
func (b *bench) bpffsDir() (string, error) {
	dir, err := os.MkdirTemp("", "podint-bench-bpffs-")
	if err != nil {
		return "", err
	}
	if err := unix.Mount("bpffs", dir, "bpf", 0, "mode=0700"); err != nil {
		os.Remove(dir)
		return "", fmt.Errorf("mount bpffs on %s: %w", dir, err)
	}
	b.cleanup.push(func() {
		_ = unix.Unmount(dir, unix.MNT_DETACH)
		_ = os.Remove(dir)
	})
	return dir, nil
}

// loadProbes loads an instance of the probes pinned under dir, closed at
// cleanup (the pins go with the bpffs).
func (b *bench) loadProbes(dir string, s bpf.Settings) (*bpf.Collection, error) {
	p, err := bpf.Load(dir, s)
	if err != nil {
		return nil, err
	}
	b.cleanup.push(func() { p.Close() })
	return p, nil
}

// drain discards what waits in a ring buffer, so the probes never meet a
// full one (which would make them take the cheaper "lost" path).
func drain(rd *ringbuf.Reader) int {
	rd.SetDeadline(time.Now())
	var rec ringbuf.Record
	n := 0
	for rd.ReadInto(&rec) == nil {
		n++
	}
	return n
}

// counterIndex finds a kernel counter by the name the daemon exports.
func counterIndex(name string) int {
	for i, n := range bpf.CounterNames() {
		if n == name {
			return i
		}
	}
	panic("no kernel counter " + name) // names come from c/probe.h; a rename must show here
}

var errFate = errors.New("a program returned something else than TCX_NEXT: it changed the packet's fate")
