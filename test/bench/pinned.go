package main

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/cilium/ebpf"
	"github.com/podint/podint/bpf"
	"github.com/podint/podint/bpf/pins"
)

// What the benchmarks need to drive a running daemon's probes from outside,
// through their pins.

// PinnedProbes are the programs and maps of a running instance, opened from
// its pin directory: a benchmark feeds the daemon's ring buffer through
// them without going through the network.
type PinnedProbes struct {
	Ingress, Egress *ebpf.Program
	counters        *ebpf.Map
	pinDir          string
}

// OpenPinnedProbes opens the probes a daemon loaded and pinned under pinDir.
func OpenPinnedProbes(pinDir string) (*PinnedProbes, error) {
	p := &PinnedProbes{pinDir: pinDir}
	var err error
	if p.Ingress, err = ebpf.LoadPinnedProgram(pins.ProgramPath(pinDir, pins.Ingress), nil); err != nil {
		return nil, fmt.Errorf("open pinned ingress probe (is the daemon running on %s?): %w", pinDir, err)
	}
	if p.Egress, err = ebpf.LoadPinnedProgram(pins.ProgramPath(pinDir, pins.Egress), nil); err != nil {
		p.Close()
		return nil, fmt.Errorf("open pinned egress probe: %w", err)
	}
	if p.counters, err = bpf.OpenPinnedCounters(pinDir); err != nil {
		p.Close()
		return nil, fmt.Errorf("open pinned counters: %w", err)
	}
	return p, nil
}

// SetReportInterval changes the report interval of the running probes and
// leaves the rest of their settings as the daemon wrote them. Zero makes
// every packet of a flow take the report path, so that each test run of
// the egress probe writes one event.
func (p *PinnedProbes) SetReportInterval(d time.Duration) error {
	return bpf.SetPinnedReportInterval(p.pinDir, d)
}

// Counters reads the probes' counters, in the order of CounterNames.
func (p *PinnedProbes) Counters() ([]uint64, error) { return bpf.ReadCounters(p.counters) }

// MapMemory is the kernel memory charged to the instance's pinned maps
// (their memlock), in bytes: what the probes hold outside any process.
func (p *PinnedProbes) MapMemory() (uint64, error) {
	ents, err := os.ReadDir(pins.MapsDir(p.pinDir))
	if err != nil {
		return 0, fmt.Errorf("list pinned maps: %w", err)
	}
	var total uint64
	for _, e := range ents {
		m, err := ebpf.LoadPinnedMap(filepath.Join(pins.MapsDir(p.pinDir), e.Name()), nil)
		if err != nil {
			return 0, fmt.Errorf("open pinned map %s: %w", e.Name(), err)
		}
		info, err := m.Info()
		m.Close()
		if err != nil {
			return 0, fmt.Errorf("map %s info: %w", e.Name(), err)
		}
		if n, ok := info.Memlock(); ok {
			total += n
		}
	}
	return total, nil
}

// Close releases the file descriptors; the daemon's pins stay.
func (p *PinnedProbes) Close() error {
	// Closing a nil program or map is a no-op, so a half-open PinnedProbes closes too.
	return errors.Join(p.Ingress.Close(), p.Egress.Close(), p.counters.Close())
}
