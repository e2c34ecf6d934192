// Package bpf owns podint's kernel side: the TC probe programs (C sources in
// c/, compiled by bpf2go), and loading, pinning and attaching them.
//
// Pin layout under an instance's pin directory:
//
//	maps/<name>           ring buffer, flow state, counters, settings, watchlist, ports,
//	                      drop reason policy and its counters (drop_policy, drops_excluded)
//	progs/ingress|egress|pod_ingress|pod_egress  the programs the CNI plugin attaches
//	links/<probe>/ingress|egress        one pinned TCX link per hook
//	links/<probe>/pod_ingress|pod_egress  the pod-side TCX links, in the pod's netns (attach_pod.go)
//	links/<probe>/tc_ingress|tc_egress  the programs of a tc (cls_bpf) probe's filters
//	staging/<probe>/      a probe being attached, renamed into links/ once whole
//	drops_link            the kfree_skb tracing link
package bpf

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"time"

	"golang.org/x/sys/unix"

	"github.com/cilium/ebpf"

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

// Probes are the loaded programs and maps of one node instance.
type Probes struct {
	objs     probeObjects
	drop     dropObjects // the drop probe, its own object (c/drop.c) sharing the pinned maps
	pinDir   string
	dropsErr error // why the drop probe cannot be attached, if it cannot
	mu       sync.Mutex
	settings probeSettings
}

func mapsDir(pinDir string) string  { return filepath.Join(pinDir, "maps") }
func progsDir(pinDir string) string { return filepath.Join(pinDir, "progs") }

// ProgramPath is where the program for a direction ("ingress" or "egress")
// is pinned.
func ProgramPath(pinDir, direction string) string {
	return filepath.Join(progsDir(pinDir), direction)
}

// Load loads the probes into the kernel. Maps already pinned under pinDir
// are reused, so a restarted daemon keeps the ring buffer, its unread
// events and the flow state; the programs are (re)pinned for the plugin.
func Load(pinDir string, s Settings) (*Probes, error) {
	if _, err := bpffs.Ensure(pinDir); err != nil {
		return nil, err
	}
	for _, d := range []string{mapsDir(pinDir), progsDir(pinDir), linksDir(pinDir)} {
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
	p := &Probes{pinDir: pinDir}
	// Without the running kernel's value of SKB_CONSUMED, the drop probe
	// would report delivered packets as drops: it is not attached then.
	if consumed, err := KernelDropReasonValue("SKB_CONSUMED"); err != nil {
		p.dropsErr = fmt.Errorf("the kernel's BTF does not name SKB_CONSUMED (drop reasons need kernel 5.17+ with BTF): %w", err)
	} else if err := dropSpec.Variables["skb_consumed_reason"].Set(consumed); err != nil {
		return nil, fmt.Errorf("set skb_consumed_reason: %w", err)
	}
	opts := &ebpf.CollectionOptions{Maps: ebpf.MapOptions{PinPath: mapsDir(pinDir)}}
	// The TC probes first: the drop probe's load then opens the maps they pinned.
	if err := loadChecked(spec, &p.objs, opts, pinDir); err != nil {
		return nil, err
	}
	if err := loadChecked(dropSpec, &p.drop, opts, pinDir); err != nil {
		p.objs.Close()
		return nil, err
	}
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
	for dir, prog := range map[string]*ebpf.Program{"ingress": p.objs.PodintIngress, "egress": p.objs.PodintEgress,
		PodIngress: p.objs.PodintPodIngress, PodEgress: p.objs.PodintPodEgress} {
		if err := repin(prog, ProgramPath(pinDir, dir)); err != nil {
			p.Close()
			return nil, err
		}
	}
	return p, nil
}

// loadChecked loads one object of the probes into objs, saying what to do
// when the verifier or the pinned maps refuse it.
func loadChecked(spec *ebpf.CollectionSpec, objs any, opts *ebpf.CollectionOptions, pinDir string) error {
	if err := spec.LoadAndAssign(objs, opts); err != nil {
		var ve *ebpf.VerifierError
		if errors.As(err, &ve) {
			return fmt.Errorf("load probes: verifier rejected them: %+v", ve)
		}
		if errors.Is(err, ebpf.ErrMapIncompatible) {
			return fmt.Errorf("load probes: maps pinned under %s come from an incompatible podint version; remove them to start afresh: %w", mapsDir(pinDir), err)
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

// repin replaces whatever is pinned at path with prog.
func repin(prog *ebpf.Program, path string) error {
	tmp := path + "_new" // bpffs refuses names with dots
	_ = os.Remove(tmp)
	if err := prog.Pin(tmp); err != nil {
		return fmt.Errorf("pin program %s: %w", path, err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("rename pinned program to %s: %w", path, err)
	}
	return nil
}

// SetSettings updates the report filter of running probes.
func (p *Probes) SetSettings(s Settings) error {
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

func (p *Probes) writeSettings() error {
	if err := p.objs.ProbeSettings.Put(uint32(0), &p.settings); err != nil {
		return fmt.Errorf("write probe settings: %w", err)
	}
	return nil
}

// Events is the ring buffer the probes write to.
func (p *Probes) Events() *ebpf.Map { return p.objs.Events }

// Flows is the report filter's per-flow state.
func (p *Probes) Flows() *ebpf.Map { return p.objs.FlowSets }

// Program returns the program for a direction ("ingress" or "egress") or
// a pod-side hook (PodIngress, PodEgress).
func (p *Probes) Program(direction string) *ebpf.Program {
	switch direction {
	case "ingress":
		return p.objs.PodintIngress
	case PodIngress:
		return p.objs.PodintPodIngress
	case PodEgress:
		return p.objs.PodintPodEgress
	}
	return p.objs.PodintEgress
}

// Close releases the file descriptors; pinned objects stay in the kernel.
func (p *Probes) Close() error { return errors.Join(p.drop.Close(), p.objs.Close()) }

// Unpin removes every pin of the instance: programs, maps and links.
// Attached probes are detached as their links go away.
func Unpin(pinDir string) error {
	return os.RemoveAll(pinDir)
}
