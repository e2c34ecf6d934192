// Package bpf owns podint's kernel side: the probe programs (C sources in
// c/, compiled by bpf2go), and what the daemon does with them: load and pin
// them (layout in bpf/pins), update their maps (settings, watchlist, drop
// policy), read their counters, attach the drop probe and the CPU port.
// Hooking a probe to an interface is bpf/attach's, which the CNI plugin
// links without this package.
package bpf

import (
	"errors"
	"fmt"
	"os"
	"sync"
	"time"

	"golang.org/x/sys/unix"

	"github.com/cilium/ebpf"

	"github.com/podint/podint/bpf/pins"
	"github.com/podint/podint/internal/bpffs"
)

// Event is one ring buffer record, generated from struct event in c/probe.h.
type Event = probeEvent

// FlowKey is a directional flow as the probes key it.
type FlowKey = probeFlowKey

// Event types and causes, generated from c/probe.h.
const (
	EventFlow = uint8(probeEventTypeEVENT_FLOW)
	EventDrop = uint8(probeEventTypeEVENT_DROP)

	CauseNewFlow    = uint8(probeEventCauseCAUSE_NEW_FLOW)
	CausePortChange = uint8(probeEventCauseCAUSE_PORT_CHANGE)
	CauseLatency    = uint8(probeEventCauseCAUSE_LATENCY)
	CauseTCPEnd     = uint8(probeEventCauseCAUSE_TCP_END)
	CauseInterval   = uint8(probeEventCauseCAUSE_INTERVAL)
	CauseNoIngress  = uint8(probeEventCauseCAUSE_NO_INGRESS)

	// Event.CtDir: the packet's direction in its conntrack entry; with
	// CtNone, Event.PreNat is not set.
	CtNone     = uint8(probeCtDirCT_NONE)
	CtOriginal = uint8(probeCtDirCT_ORIGINAL)
	CtReply    = uint8(probeCtDirCT_REPLY)
)

// MaxSnapLen is the most bytes of a packet an event carries: SNAP_LEN in
// c/probe.h, the size of Event.Data. No snap length above it can be honoured.
const MaxSnapLen = int(probeSnapSNAP_LEN)

// Settings tune the in-kernel report filter; the daemon can change them
// while probes run.
type Settings struct {
	ReportInterval time.Duration // at most one steady-state event per flow per interval
	LatencyQuantum time.Duration // hop latencies below it count as it when judging a change (a move by a factor of 2)
	InflightMaxAge time.Duration // an ingress timestamp older than this is not paired
	SnapLen        int           // bytes of a packet an event captures, 1..MaxSnapLen; 0: MaxSnapLen
}

// DefaultSettings are used when the daemon is given none.
var DefaultSettings = Settings{
	ReportInterval: time.Second,
	LatencyQuantum: 100 * time.Microsecond,
	InflightMaxAge: 5 * time.Second,
}

// Collection is the loaded programs and maps of one node instance: the
// probes of every port share it (a Probe is one port's attachment and
// registration).
type Collection struct {
	objs      probeObjects
	drop      dropObjects // the drop probe, its own object (c/drop.c) sharing the pinned maps
	pinDir    string
	dropsErr  error // why the drop probe cannot be attached, if it cannot
	mu        sync.Mutex
	settings  probeSettings
	migration *Migration // what the load replaced of an older version's pins
}

// Load loads the probes into the kernel. Maps already pinned under pinDir
// are reused, so a restarted daemon keeps the ring buffer, its unread
// events and the flow state; a pinned map the programs cannot use (an
// older version's layout) is replaced (migrate.go: Migration says what
// was lost). The programs are (re)pinned for the plugin.
func Load(pinDir string, s Settings) (*Collection, error) {
	if _, err := bpffs.Ensure(pinDir); err != nil {
		return nil, err
	}
	for _, d := range []string{pins.MapsDir(pinDir), pins.ProgsDir(pinDir), pins.LinksDir(pinDir)} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			return nil, fmt.Errorf("create pin directory: %w", err)
		}
	}
	spec, err := loadProbe()
	if err != nil {
		return nil, fmt.Errorf("read probe objects: %w", err)
	}
	dropSpec, err := loadDrop()
	if err != nil {
		return nil, fmt.Errorf("read drop probe object: %w", err)
	}
	p := &Collection{pinDir: pinDir}
	// Without the running kernel's value of SKB_CONSUMED, the drop probe
	// would report delivered packets as drops: it is not attached then.
	if consumed, err := KernelDropReasonValue("SKB_CONSUMED"); err != nil {
		p.dropsErr = fmt.Errorf("the kernel's BTF does not name SKB_CONSUMED (drop reasons need kernel 5.17+ with BTF): %w", err)
	} else if err := dropSpec.Variables["skb_consumed_reason"].Set(consumed); err != nil {
		return nil, fmt.Errorf("set skb_consumed_reason: %w", err)
	}
	plan, err := planMaps(pinDir, spec, dropSpec)
	if err != nil {
		return nil, err
	}
	// The TC probes first: the drop probe's load then opens the maps they pinned.
	if err := loadChecked(spec, &p.objs, plan.options(spec)); err != nil {
		plan.close()
		return nil, err
	}
	if err := loadChecked(dropSpec, &p.drop, plan.options(dropSpec)); err != nil {
		p.objs.Close()
		plan.close()
		return nil, err
	}
	// The maps first, then the programs: a CNI ADD that opens the new
	// programs writes the maps they use.
	if err := plan.commit(); err != nil {
		p.Close()
		plan.close()
		return nil, err
	}
	for _, m := range plan.fresh {
		m.Close() // the collections hold their own descriptors
	}
	p.migration = &plan.mig
	// Continue from the pinned settings, so that the watchlist generation
	// moves on and flows decided under older rules are decided again.
	_ = p.objs.ProbeSettings.Lookup(uint32(0), &p.settings)
	p.settings.WatchGen++
	if ino, err := netnsIno(); err == nil {
		p.settings.NetnsIno = ino
	}
	if err := p.SetSettings(s); err != nil {
		p.Close()
		return nil, err
	}
	for _, h := range []pins.Hook{pins.Ingress, pins.Egress, pins.PodIngress, pins.PodEgress} {
		if err := pins.Replace(pins.ProgramPath(pinDir, h), p.Program(h).Pin); err != nil {
			p.Close()
			return nil, err
		}
	}
	return p, nil
}

// loadChecked loads one object of the probes into objs, saying what the
// verifier refused.
func loadChecked(spec *ebpf.CollectionSpec, objs any, opts *ebpf.CollectionOptions) error {
	if err := spec.LoadAndAssign(objs, opts); err != nil {
		var ve *ebpf.VerifierError
		if errors.As(err, &ve) {
			return fmt.Errorf("load probes: verifier rejected them: %+v", ve)
		}
		return fmt.Errorf("load probes: %w", err)
	}
	return nil
}

// netnsIno identifies the caller's network namespace as the kernel does
// (ns.inum): drops in other namespaces, the pods', are not the node's.
func netnsIno() (uint64, error) {
	var st unix.Stat_t
	if err := unix.Stat("/proc/thread-self/ns/net", &st); err != nil {
		return 0, fmt.Errorf("stat network namespace: %w", err)
	}
	return st.Ino, nil
}

// SetSettings updates the report filter of running probes.
func (p *Collection) SetSettings(s Settings) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.settings.ReportIntervalNs = uint64(s.ReportInterval)
	p.settings.LatencyQuantumNs = uint64(s.LatencyQuantum)
	p.settings.InflightMaxAgeNs = uint64(s.InflightMaxAge)
	if s.SnapLen < 0 || s.SnapLen > MaxSnapLen {
		return fmt.Errorf("snap length %d: the probes capture 0 (all they can) to %d bytes", s.SnapLen, MaxSnapLen)
	}
	p.settings.SnapLen = uint16(s.SnapLen)
	return p.writeSettings()
}

// SetPinnedReportInterval changes the report interval of the probes a
// running daemon pinned under pinDir, and leaves the rest of their settings
// as the daemon wrote them (benchmarks set 0: every packet takes the
// report path).
func SetPinnedReportInterval(pinDir string, d time.Duration) error {
	m, err := ebpf.LoadPinnedMap(pins.MapPath(pinDir, "probe_settings"), nil)
	if err != nil {
		return fmt.Errorf("open pinned settings (is the daemon running on %s?): %w", pinDir, err)
	}
	defer m.Close()
	var s probeSettings
	if err := m.Lookup(uint32(0), &s); err != nil {
		return fmt.Errorf("read probe settings: %w", err)
	}
	s.ReportIntervalNs = uint64(d)
	if err := m.Put(uint32(0), &s); err != nil {
		return fmt.Errorf("write probe settings: %w", err)
	}
	return nil
}

func (p *Collection) writeSettings() error {
	if err := p.objs.ProbeSettings.Put(uint32(0), &p.settings); err != nil {
		return fmt.Errorf("write probe settings: %w", err)
	}
	return nil
}

// Events is the ring buffer the probes write to.
func (p *Collection) Events() *ebpf.Map { return p.objs.Events }

// Flows is the report filter's per-flow state.
func (p *Collection) Flows() *ebpf.Map { return p.objs.FlowSets }

// Program returns the program that runs at hook h, nil for no hook of
// the probes.
func (p *Collection) Program(h pins.Hook) *ebpf.Program {
	switch h {
	case pins.Ingress:
		return p.objs.PodintIngress
	case pins.Egress:
		return p.objs.PodintEgress
	case pins.PodIngress:
		return p.objs.PodintPodIngress
	case pins.PodEgress:
		return p.objs.PodintPodEgress
	}
	return nil
}

// ProgramFD is the descriptor of the program that runs at hook h, -1 for
// no hook of the probes: what attach.Update moves a probe to.
func (p *Collection) ProgramFD(h pins.Hook) int {
	if prog := p.Program(h); prog != nil {
		return prog.FD()
	}
	return -1
}

// DropProgram is the kfree_skb probe. Tracing programs cannot be test-run,
// so benchmarks read its cost from BPF statistics.
func (p *Collection) DropProgram() *ebpf.Program { return p.drop.PodintDrop }

// Migration is what Load replaced of pinned maps an older version left:
// nothing replaced when its Replaced is empty. Its replaced maps stay open
// until Close.
func (p *Collection) Migration() *Migration { return p.migration }

// Close releases the file descriptors; pinned objects stay in the kernel.
func (p *Collection) Close() error {
	if p.migration != nil {
		p.migration.Close()
	}
	return errors.Join(p.drop.Close(), p.objs.Close())
}

// PinDir is where the probes are pinned.
func (p *Collection) PinDir() string { return p.pinDir }
