package bpf

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/cilium/ebpf"
)

// What the benchmarks (test/bench) need to drive the probes from outside:
// a running daemon's probes through their pins, and the drop probe, which
// BPF_PROG_TEST_RUN cannot run, through the kernel's BPF statistics.

// DropProgram is the kfree_skb probe. Tracing programs cannot be test-run,
// so its cost is read from BPF statistics while the kernel drops packets.
func (p *Probes) DropProgram() *ebpf.Program { return p.drop.PodintDrop }

// PinnedProbes are the programs and maps of a running instance, opened from
// its pin directory: a benchmark feeds the daemon's ring buffer through
// them without going through the network.
type PinnedProbes struct {
	Ingress, Egress *ebpf.Program
	counters        *ebpf.Map
	settings        *ebpf.Map
	pinDir          string
}

// OpenPinnedProbes opens the probes a daemon loaded and pinned under pinDir.
func OpenPinnedProbes(pinDir string) (*PinnedProbes, error) {
	p := &PinnedProbes{pinDir: pinDir}
	var err error
	if p.Ingress, err = ebpf.LoadPinnedProgram(ProgramPath(pinDir, "ingress"), nil); err != nil {
		return nil, fmt.Errorf("open pinned ingress probe (is the daemon running on %s?): %w", pinDir, err)
	}
	if p.Egress, err = ebpf.LoadPinnedProgram(ProgramPath(pinDir, "egress"), nil); err != nil {
		p.Close()
		return nil, fmt.Errorf("open pinned egress probe: %w", err)
	}
	if p.counters, err = OpenPinnedCounters(pinDir); err != nil {
		p.Close()
		return nil, fmt.Errorf("open pinned counters: %w", err)
	}
	if p.settings, err = ebpf.LoadPinnedMap(filepath.Join(mapsDir(pinDir), "probe_settings"), nil); err != nil {
		p.Close()
		return nil, fmt.Errorf("open pinned settings: %w", err)
	}
	return p, nil
}

// SetReportInterval changes the report interval of the running probes and
// leaves the rest of their settings as the daemon wrote them. Zero makes
// every packet of a flow take the report path, so that each test run of
// the egress probe writes one event.
func (p *PinnedProbes) SetReportInterval(d time.Duration) error {
	var s probeSettings
	if err := p.settings.Lookup(uint32(0), &s); err != nil {
		return fmt.Errorf("read probe settings: %w", err)
	}
	s.ReportIntervalNs = uint64(d)
	if err := p.settings.Put(uint32(0), &s); err != nil {
		return fmt.Errorf("write probe settings: %w", err)
	}
	return nil
}

// Counters reads the probes' counters, in the order of CounterNames.
func (p *PinnedProbes) Counters() ([]uint64, error) { return ReadCounters(p.counters) }

// MapMemory is the kernel memory charged to the instance's pinned maps
// (their memlock), in bytes: what the probes hold outside any process.
func (p *PinnedProbes) MapMemory() (uint64, error) {
	ents, err := os.ReadDir(mapsDir(p.pinDir))
	if err != nil {
		return 0, fmt.Errorf("list pinned maps: %w", err)
	}
	var total uint64
	for _, e := range ents {
		m, err := ebpf.LoadPinnedMap(filepath.Join(mapsDir(p.pinDir), e.Name()), nil)
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
	return errors.Join(p.Ingress.Close(), p.Egress.Close(), p.counters.Close(), p.settings.Close())
}
