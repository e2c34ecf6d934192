/* The probes' maps. Every map is pinned by name under the instance's
 * maps/ directory, so a restarted daemon finds the ring buffer with its
 * unread events and the flow state where the probes left them. */
#pragma once

#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include "probe.h"

/* Map sizes. A pinned map keeps its size: an upgrade that changes one (or
 * the layout of a map's contents) replaces the pinned map, losing what it
 * held (docs/daemon.md, "Upgrades that change a map"). */
#define RINGBUF_BYTES    (4 << 20) /* about 11,650 events of 360 bytes */
#define INFLIGHT_SLOTS   65536     /* packets between an ingress and an egress hook at once */
#define FLOW_ENTRIES     131072    /* flows the report filter remembers (flows.h) */
#define DROP_ENTRIES     16384     /* (flow, reason) pairs the drop rate limit remembers (LRU) */
#define PORT_ENTRIES     4096      /* probed ports of a node */

/* 2^64 / the golden ratio: the multiplier of Fibonacci hashing, which
 * spreads sk_buff addresses (multiples of the slab's object size) over the
 * in-flight slots. */
#define GOLDEN_RATIO_64 0x9E3779B97F4A7C15ULL

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, RINGBUF_BYTES);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} events SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, INFLIGHT_SLOTS);
	__type(key, __u32);
	__type(value, struct inflight);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} inflight SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, DROP_ENTRIES);
	__type(key, struct drop_key);
	__type(value, struct drop_state);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} drops SEC(".maps");

/* Probed ports by ifindex in the node's namespace: a drop is reported when
 * the packet entered or was leaving through one of them. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, PORT_ENTRIES);
	__type(key, __u32);
	__type(value, __u32);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} ports SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, MAX_WATCH_RULES);
	__type(key, __u32);
	__type(value, struct watch_rule);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} watchlist SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, COUNTER_MAX);
	__type(key, __u32);
	__type(value, __u64);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} counters SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct settings);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} probe_settings SEC(".maps");

/* Scratch space for building a drop event off the stack. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct event);
} scratch SEC(".maps");

static __always_inline void count(__u32 idx)
{
	__u64 *v = bpf_map_lookup_elem(&counters, &idx);
	if (v)
		*v += 1;
}

/* count_causes counts a flow event written by each of its causes. */
static __always_inline void count_causes(__u8 cause)
{
	if (cause & CAUSE_NEW_FLOW)
		count(COUNTER_EVENTS_NEW_FLOW);
	if (cause & CAUSE_PORT_CHANGE)
		count(COUNTER_EVENTS_PORT_CHANGE);
	if (cause & CAUSE_LATENCY)
		count(COUNTER_EVENTS_LATENCY);
	if (cause & CAUSE_TCP_END)
		count(COUNTER_EVENTS_TCP_END);
	if (cause & CAUSE_INTERVAL)
		count(COUNTER_EVENTS_INTERVAL);
}

static __always_inline struct settings *settings(void)
{
	__u32 zero = 0;
	return bpf_map_lookup_elem(&probe_settings, &zero);
}

/* The probes read two clocks, both CLOCK_MONOTONIC (bpf-helpers(7)).
 * bpf_ktime_get_ns is exact and costs about 20 ns on a KVM guest (the
 * bench's "reading the clock" row: kvm-clock, a TSC read and its scaling);
 * bpf_ktime_get_coarse_ns is the same clock as of the last tick, up to one
 * tick (1/HZ: 4 ms at HZ=250) behind, and costs a few ns.
 *  - Exact: every timestamp that is measured or reported. An in-flight
 *    record's time (ingress) and a paired packet's egress time, whose
 *    difference is the hop latency; an event's ingress and egress
 *    timestamps (the collector's report delay is measured from the latter).
 *  - Coarse: the report filter's decisions, which are windows of many
 *    ticks: a flow's report interval and its quarter for latency changes
 *    (last_report_ns), a flow's age in the flow table (flows.h), an
 *    in-flight record's freshness (inflight_max_age_ns, seconds).
 *    Netfilter programs (cpu.h) may not read it: they take the exact
 *    clock for both, so a flow's last_report_ns may be of either clock,
 *    and is compared with since().
 * So an egress packet reads the exact clock only when it needs it: to take
 * its hop latency (paired, its flow watched) or to be reported. A report
 * interval below COARSE_MIN_INTERVAL_NS (tests, benchmarks: 1 ns or 0 for
 * "every packet") would be rounded up to a tick by the coarse clock: with
 * one that short, the decisions take the exact clock too. */
#define COARSE_MIN_INTERVAL_NS 100000000ULL /* 100 ms: its quarter is 2.5 ticks even at HZ=100 */

/* since: the time from then to now, 0 when then is later: a coarse now
 * may be up to a tick behind an exact then, or behind another CPU's time. */
static __always_inline __u64 since(__u64 now, __u64 then)
{
	return now > then ? now - then : 0;
}

/* exact_now: the exact time of this packet, read once, when first needed
 * (*t is 0 until then). */
static __always_inline __u64 exact_now(__u64 *t)
{
	if (!*t)
		*t = bpf_ktime_get_ns();
	return *t;
}

/* decision_now: the time the report filter decides on (the coarse clock,
 * or the exact one for a report interval shorter than the coarse clock
 * can tell apart); exact is the packet's exact time, as for exact_now. */
static __always_inline __u64 decision_now(const struct settings *cfg, __u64 *exact)
{
	if (cfg->report_interval_ns < COARSE_MIN_INTERVAL_NS)
		return exact_now(exact);
	return bpf_ktime_get_coarse_ns();
}

/* inflight_check binds a slot's fields together, so that a slot two CPUs
 * wrote at the same time is recognised as torn rather than paired. */
static __always_inline __u64 inflight_check(__u64 skb, __u64 ts, __u32 ifindex, __u32 sig)
{
	return (skb ^ (ts * GOLDEN_RATIO_64)) ^ ((__u64)ifindex << 32 | sig);
}

/* inflight_slot: the slot of a packet in the direct-mapped in-flight table. */
static __always_inline struct inflight *inflight_slot(__u64 skb)
{
	/* the top 16 bits of the product are the best mixed */
	__u32 slot = (__u32)((skb * GOLDEN_RATIO_64) >> 48) & (INFLIGHT_SLOTS - 1);
	return bpf_map_lookup_elem(&inflight, &slot);
}

/* inflight_find returns the in-flight record of skb, or NULL; the caller
 * frees the slot (skb = 0) once it has used it. */
static __always_inline struct inflight *inflight_find(__u64 skb)
{
	struct inflight *f = inflight_slot(skb);
	if (!f || f->skb != skb || f->check != inflight_check(f->skb, f->ts, f->ifindex, f->sig))
		return 0;
	return f;
}

/* event_head fills what every event says of the packet's crossing: its
 * times, ports, counters, kind and causes; the caller adds the flow, the
 * capture, and for a flow event the pre-NAT flow (ct_dir starts CT_NONE). */
static __always_inline void event_head(struct event *ev, __u8 type, __u8 cause, __u64 in_ts, __u32 in_if,
				       __u32 out_if, __u64 now, __u64 packets, __u64 bytes)
{
	ev->ingress_ts = in_ts;
	ev->egress_ts = now;
	ev->packets = packets;
	ev->bytes = bytes;
	ev->ingress_ifindex = in_if;
	ev->egress_ifindex = out_if;
	ev->drop_reason = 0;
	ev->type = type;
	ev->cause = cause;
	ev->ct_dir = CT_NONE;
	__builtin_memset(ev->pad, 0, sizeof(ev->pad));
}

/* Waking the ring buffer's reader costs the writer an interrupt (an IPI on
 * its CPU) and the reader a context switch, about 5 µs per event when the
 * reader sleeps between events. Events are therefore written without a
 * wakeup; the reader polls on a short deadline (daemon/events), and is
 * woken early when the ring fills past RINGBUF_WAKEUP_BYTES, so a burst
 * costs one wakeup and a lone event waits at most the reader's deadline. */
#define RINGBUF_WAKEUP_BYTES (64 << 10) /* about 180 events */
#define RINGBUF_HDR_BYTES    8          /* BPF_RINGBUF_HDR_SZ, before every record */
#define EVENT_RECORD_BYTES   (sizeof(struct event) + RINGBUF_HDR_BYTES)
_Static_assert(INFLIGHT_SLOTS == 1 << 16, "inflight_slot takes the top 16 bits of the hash");

/* ringbuf_flags: the submit flags of an event about to be written: a
 * wakeup only for the event that takes the unread data past the threshold
 * (asked before writing, so the record is not counted yet). */
static __always_inline __u64 ringbuf_flags(void)
{
	__u64 unread = bpf_ringbuf_query(&events, BPF_RB_AVAIL_DATA);
	if (unread < RINGBUF_WAKEUP_BYTES && unread + EVENT_RECORD_BYTES >= RINGBUF_WAKEUP_BYTES)
		return BPF_RB_FORCE_WAKEUP;
	return BPF_RB_NO_WAKEUP;
}
