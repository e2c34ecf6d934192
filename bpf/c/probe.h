/* Types shared between the podint probes and the daemon. bpf2go turns the
 * ones named in bpf/gen.go into Go types, so this file is their one source. */
#pragma once

#include <linux/types.h>

/* SNAP_LEN is the most bytes of a packet an event carries (struct event's
 * data): the largest snap length podint can report. It is an enum so that
 * bpf2go exports it to Go (bpf.MaxSnapLen) and the daemon's limit is this
 * one constant. 256 bytes hold the headers of IPv6 with extension headers,
 * or of VXLAN/Geneve over IPv6 with an inner IPv6 TCP packet and its
 * options; 128 did not. A power of two: the copy bounds the length with a
 * mask the verifier understands. */
enum snap {
	SNAP_LEN = 256,
};
_Static_assert((SNAP_LEN & (SNAP_LEN - 1)) == 0, "SNAP_LEN must be a power of two");

/* What the drop probe does with a drop, per kernel reason (map
 * "drop_policy", written by the daemon from --drop-reasons). */
enum drop_action {
	DROP_REPORT     = 0, /* report it (the map's zero value) */
	DROP_SKIP       = 1, /* do not report it: not a loss of user traffic */
	DROP_SKIP_GROUP = 2, /* do not report it when addressed to a multicast or broadcast group */
};

/* The port id of the node's own stack (cpu.h): the loopback's ifindex. */
#define CPU_PORT 1

enum event_type {
	EVENT_FLOW = 1, /* a packet crossed the node from ingress to egress port */
	EVENT_DROP = 2, /* the kernel freed a probed packet with a drop reason */
};

/* Why the report filter let a flow event through (bit set). */
enum event_cause {
	CAUSE_NEW_FLOW     = 1 << 0,
	CAUSE_PORT_CHANGE  = 1 << 1,
	CAUSE_LATENCY      = 1 << 2,
	CAUSE_TCP_END      = 1 << 3,
	CAUSE_INTERVAL     = 1 << 4,
	CAUSE_NO_INGRESS   = 1 << 5, /* ingress port or time unknown */
};

/* The direction of a packet in its conntrack entry (event.ct_dir). */
enum ct_dir {
	CT_NONE = 0,     /* no conntrack entry: event.pre_nat is zero */
	CT_ORIGINAL = 1, /* the connection's original direction */
	CT_REPLY = 2,
};

/* A directional flow. IPv4 addresses are stored v4-mapped (::ffff:a.b.c.d)
 * so one key serves both families. For ICMP and ICMPv6, sport holds the type
 * and dport the code. Ports are in host byte order. */
struct flow_key {
	__u8 saddr[16];
	__u8 daddr[16];
	__u16 sport;
	__u16 dport;
	__u8 proto;
	__u8 pad[3];
} __attribute__((aligned(8)));

/* Per-flow state of the report filter (flows.h). */
struct flow_state {
	__u64 last_report_ns;
	__u64 packets;
	__u64 bytes;
	__u32 ingress_ifindex;
	__u32 egress_ifindex;
	__u32 reported_latency_ns; /* hop latency of the flow's last report (at most 4.29 s) */
	__u16 watch_gen;   /* watchlist generation "watched" was decided under */
	__u8 watched;      /* the watchlist selects this flow */
	__u8 latency_rose; /* the last report's latency rose by a change from the one before */
};

/* Rate limit of drop reports per flow and kernel reason (LRU map "drops"). */
struct drop_key {
	struct flow_key flow;
	__u32 reason;
};

struct drop_state {
	__u64 last_report_ns;
	__u64 drops;  /* since the flow's first drop for this reason */
	__u64 bytes;
};

#define MAX_WATCH_RULES 64

/* One watchlist rule (array map "watchlist"). Addresses are v4-mapped like
 * flow keys; a zero mask matches any address, of either family. Ports are
 * inclusive ranges; for ICMP they range over type (sport) and code (dport). */
struct watch_rule {
	__u8 src[16];
	__u8 src_mask[16];
	__u8 dst[16];
	__u8 dst_mask[16];
	__u16 sport_lo;
	__u16 sport_hi;
	__u16 dport_lo;
	__u16 dport_hi;
	__u8 proto;  /* 0: any protocol */
	__u8 pad[7];
};

/* A packet that passed an ingress probe and has not reached an egress probe
 * yet, in the direct-mapped array "inflight": its slot is a hash of the
 * packet's sk_buff id, so recording it costs no hash-map update. Two
 * packets in flight on the same slot: the later one wins and the earlier is
 * reported without hop latency, never paired wrongly, since skb (the id)
 * must match; sig (the packet signature of parse.h, made of header fields
 * NAT does not rewrite, so a DNAT'd or masqueraded packet still pairs)
 * guards against an id reused by another packet, together with the
 * freshness bound; check guards against a slot torn by two CPUs writing it
 * at once. */
struct inflight {
	__u64 skb;
	__u64 ts;
	__u32 ifindex;
	__u32 sig;
	__u64 check;
};

/* One record in the ring buffer. */
struct event {
	__u64 ingress_ts;       /* bpf_ktime_get_ns at the ingress port */
	__u64 egress_ts;        /* at the egress port, or when dropped */
	__u64 packets;          /* flow counters at the time of the event */
	__u64 bytes;
	__u32 ingress_ifindex;  /* 0 when unknown */
	__u32 egress_ifindex;   /* 0 for drops before an egress port */
	__u32 pkt_len;          /* length of the packet from its first captured byte */
	__u32 drop_reason;      /* kernel enum skb_drop_reason value */
	__u16 snap_len;         /* bytes valid in data */
	__u8 type;              /* enum event_type */
	__u8 cause;             /* enum event_cause bits */
	__u8 l2;                /* data starts at an Ethernet header */
	__u8 ct_dir;            /* enum ct_dir: pre_nat is set when not CT_NONE */
	__u8 pad[2];
	struct flow_key flow;
	struct flow_key pre_nat; /* flow events: the flow as it entered the node, before NAT (conntrack) */
	__u8 data[SNAP_LEN];
};

/* Indexes of the per-CPU "counters" array: every place an event can be
 * lost or a packet cannot be understood is counted. What each one counts
 * is written once, for operators: CounterHelp in bpf/counters.go (the
 * daemon's stats and /metrics show it; TestEveryCounterIsExplained holds
 * the two lists together). */
enum counter {
	COUNTER_PACKETS = 0,
	COUNTER_NOT_IP,
	COUNTER_TRUNCATED,
	COUNTER_EVENTS,
	COUNTER_RINGBUF_FULL,
	COUNTER_SUPPRESSED,
	COUNTER_INGRESS_UNKNOWN,
	COUNTER_INFLIGHT_STALE,
	COUNTER_UNWATCHED,
	COUNTER_DROPS_SEEN,
	COUNTER_DROPS_SUPPRESSED,
	COUNTER_POD_SIDE,
	COUNTER_POD_PORT_UNKNOWN,
	COUNTER_EVENTS_NEW_FLOW,
	COUNTER_EVENTS_PORT_CHANGE,
	COUNTER_EVENTS_LATENCY,
	COUNTER_EVENTS_TCP_END,
	COUNTER_EVENTS_INTERVAL,
	COUNTER_FLOWS_EVICTED,
	COUNTER_MAX,
};

/* Index 0 of the "probe_settings" array map, written by the daemon. */
struct settings {
	__u64 report_interval_ns;   /* at most one steady-state event per flow per interval */
	__u64 latency_quantum_ns;   /* hop latencies below it count as it: the floor a change is measured from */
	__u64 inflight_max_age_ns;  /* older in-flight entries are not paired */
	__u64 netns_ino;            /* the node's network namespace: drops elsewhere (in pods) are not the node's */
	__u32 watch_rules;          /* rules in use in "watchlist"; 0 reports every flow */
	__u16 watch_gen;            /* bumped on every watchlist change */
	__u16 snap_len;             /* bytes of a packet an event captures, at most SNAP_LEN; 0: SNAP_LEN */
};
