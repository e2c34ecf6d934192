package bpf

import (
	"fmt"
	"strings"
	"sync"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/btf"

	"github.com/podint/podint/bpf/pins"
)

// CounterNames are the kernel-side counters, in the order of enum counter in
// c/probe.h, named as the daemon exports them. Read from the object's BTF
// on first use, not at package init: what links this package without
// exporting counters pays nothing for them.
var CounterNames = sync.OnceValue(counterNames)

// counterNames reads enum counter from the object's BTF, so the names come
// from the C header like everything else shared with the kernel side.
func counterNames() []string {
	names := make([]string, probeCounterCOUNTER_MAX)
	for i := range names {
		names[i] = fmt.Sprintf("counter_%d", i)
	}
	spec, err := loadProbe()
	if err != nil {
		return names
	}
	var enum *btf.Enum
	if err := spec.Types.TypeByName("counter", &enum); err != nil {
		return names
	}
	for _, v := range enum.Values {
		if v.Value < uint64(len(names)) {
			names[v.Value] = strings.ToLower(strings.TrimPrefix(v.Name, "COUNTER_"))
		}
	}
	return names
}

// Counter indexes that callers refer to by meaning.
const (
	CounterRingbufFull = int(probeCounterCOUNTER_RINGBUF_FULL)
	CounterEvents      = int(probeCounterCOUNTER_EVENTS)
	CounterPackets     = int(probeCounterCOUNTER_PACKETS)
	CounterSuppressed  = int(probeCounterCOUNTER_SUPPRESSED)
)

// ReadCounters sums the per-CPU counters.
func ReadCounters(m *ebpf.Map) ([]uint64, error) {
	names := CounterNames()
	out := make([]uint64, len(names))
	for i := range out {
		var per []uint64
		if err := m.Lookup(uint32(i), &per); err != nil {
			return nil, fmt.Errorf("read counter %s: %w", names[i], err)
		}
		for _, v := range per {
			out[i] += v
		}
	}
	return out, nil
}

// Counters reads the probes' counters.
func (p *Collection) Counters() ([]uint64, error) { return ReadCounters(p.objs.Counters) }

// OpenPinnedCounters opens the counters map of a running instance.
func OpenPinnedCounters(pinDir string) (*ebpf.Map, error) {
	return ebpf.LoadPinnedMap(pins.MapPath(pinDir, "counters"), nil)
}

// CounterHelp explains each kernel counter, by name.
var CounterHelp = map[string]string{
	"packets":          "packets seen leaving through a probed port, counted once there by its egress probe (or by the pod-side probe for one that bypassed its host veth's egress); ingress probes do not count",
	"not_ip":           "frames that are not IPv4 or IPv6 (ARP, LLDP...), passed on unrecorded",
	"truncated":        "packets whose headers are shorter than they claim, passed on unrecorded",
	"events":           "events written to the ring buffer",
	"ringbuf_full":     "events lost because the ring buffer was full",
	"suppressed":       "packets the report filter held back (no new cause, within the interval)",
	"ingress_unknown":  "egress packets that did not pass a probed ingress port (no hop latency)",
	"inflight_stale":   "ingress records too old or of another packet (a reused sk_buff), not paired",
	"unwatched":        "packets of flows the watchlist does not select",
	"drops_seen":       "packets of probed ports the kernel dropped for a reason --drop-reasons reports",
	"drops_suppressed": "drops held back by the per-flow, per-reason rate limit",
	"pod_side":         "packets the pod-side probe paired with their ingress record: they entered a pod bypassing its host veth's egress (a CNI's bpf_redirect_peer)",
	"pod_port_unknown": "packets the pod-side probe could not handle: their pod interface has no host port entry (not reported, or no ingress record)",
	// Flow events by cause: an event with several causes counts in each.
	"events_new_flow":    "flow events written for a flow's first packet (or one the watchlist newly selects)",
	"events_port_change": "flow events written because the flow's ingress or egress port changed",
	"events_latency":     "flow events written because the hop latency moved by more than a factor of 2 from the last reported",
	"events_tcp_end":     "flow events written for a TCP FIN or RST",
	"events_interval":    "flow events written because a report interval had passed since the flow's last report",
	"flows_evicted":      "flows a new flow pushed out of the full set of the flow table they share (their next packet reports as a new flow)",
}
