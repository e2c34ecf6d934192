// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* podint TC probes. Attached to both directions of every pod's host veth and
 * of the node's uplinks, they observe packets and never change their fate:
 * every path returns TC_ACT_UNSPEC (TCX_NEXT), whatever the packet holds.
 *
 * Ingress records when and where a packet entered the node, keyed by its
 * sk_buff address and checked by a signature NAT cannot change; egress
 * pairs it back, computes the hop latency, and lets
 * the per-flow report filter decide whether user space hears about it. */

#include "parse.h"
#include "maps.h"
#include "watch.h"
#include "nat.h"
#include "flows.h"

#define TC_ACT_UNSPEC_ (-1)

char __license[] SEC("license") = "Dual BSD/GPL";

/* Referenced so bpf2go emits Go types for them. */
const struct event *unused_event __attribute__((unused));
const struct settings *unused_settings __attribute__((unused));
const struct flow_state *unused_flow_state __attribute__((unused));
const enum counter *unused_counter __attribute__((unused));
const struct watch_rule *unused_watch_rule __attribute__((unused));
const struct drop_key *unused_drop_key __attribute__((unused));
const struct drop_state *unused_drop_state __attribute__((unused));
const enum event_type *unused_event_type __attribute__((unused));
const enum event_cause *unused_event_cause __attribute__((unused));
const enum snap *unused_snap __attribute__((unused));
const enum drop_action *unused_drop_action __attribute__((unused));
const enum ct_dir *unused_ct_dir __attribute__((unused));

extern void *bpf_cast_to_kern_ctx(void *obj) __ksym;

/* skb_id is the kernel address of the sk_buff: unique among packets in
 * flight, and the same object from the ingress hook to the egress hook. */
static __always_inline __u64 skb_id(struct __sk_buff *skb)
{
	/* pointer minus a constant pointer: a scalar the verifier lets us hash */
	return (__u64)(unsigned long)bpf_cast_to_kern_ctx(skb) - (__u64)(unsigned long)&inflight;
}

/* parse_counted parses a packet and counts the ones it cannot understand.
 * Packets are counted once each (COUNTER_PACKETS) where they leave, by the
 * egress probes, not at every hook: in the real path the per-CPU counter
 * is cold when a packet arrives, and its increment at ingress cost 30-60 ns
 * of the ingress probe's 200-300 ns on a 64-byte UDP packet
 * (docs/performance.md). */
static __always_inline int parse_counted(struct __sk_buff *skb, struct packet *p)
{
	int r = parse_packet(skb, p);
	if (r == PARSE_NOT_IP)
		count(COUNTER_NOT_IP);
	else if (r == PARSE_TRUNCATED)
		count(COUNTER_TRUNCATED);
	return r;
}

/* probe_ingress_port records a packet entering the node through port in_if. */
static __always_inline void probe_ingress_port(struct __sk_buff *skb, __u32 in_if)
{
	struct packet p = {};
	if (parse_counted(skb, &p) != PARSE_OK)
		return;
	__u64 id = skb_id(skb);
	struct inflight *v = inflight_slot(id);
	if (!v)
		return;
	__u64 ts = bpf_ktime_get_ns();
	__u32 ifx = in_if;
	v->skb = id;
	v->ts = ts;
	v->ifindex = ifx;
	v->sig = p.sig;
	v->check = inflight_check(id, ts, ifx, p.sig);
}

static __always_inline void probe_ingress(struct __sk_buff *skb)
{
	probe_ingress_port(skb, skb->ifindex);
}

/* snap_limit is how many bytes of a packet an event captures: the daemon's
 * snap length, at most SNAP_LEN. */
static __always_inline __u32 snap_limit(void)
{
	struct settings *cfg = settings();
	if (!cfg || !cfg->snap_len || cfg->snap_len > SNAP_LEN)
		return SNAP_LEN;
	return cfg->snap_len;
}

/* emit sends one event, capturing up to snap_limit() bytes of the frame. */
static __always_inline void emit(struct __sk_buff *skb, struct packet *p, __u64 in_ts, __u32 in_if,
				 __u32 out_if, __u64 now, __u8 cause, __u64 packets, __u64 bytes)
{
	__u64 flags = ringbuf_flags();
	struct event *ev = bpf_ringbuf_reserve(&events, sizeof(*ev), 0);
	if (!ev) {
		count(COUNTER_RINGBUF_FULL);
		return;
	}
	event_head(ev, EVENT_FLOW, cause, in_ts, in_if, out_if, now, packets, bytes);
	ev->l2 = 1;
	ev->flow = p->key;
	ev->ct_dir = pre_nat_flow(bpf_cast_to_kern_ctx(skb), &ev->pre_nat);

	__u32 off = p->frame_off;
	__u32 len = skb->len > off ? skb->len - off : 0;
	ev->pkt_len = len;
	ev->snap_len = 0;
	if (len > 0) {
		__u32 limit = snap_limit();
		__u32 snap = len < limit ? len : limit;
		/* a no-op for snap in [1, SNAP_LEN] that lets the verifier see
		 * those bounds (SNAP_LEN is a power of two) */
		snap = ((snap - 1) & (SNAP_LEN - 1)) + 1;
		if (bpf_skb_load_bytes(skb, off, ev->data, snap) == 0)
			ev->snap_len = snap;
	}
	bpf_ringbuf_submit(ev, flags);
	count(COUNTER_EVENTS);
	count_causes(cause);
}

/* A hop latency change is worth a report when the latency moved by more
 * than a factor of LATENCY_CHANGE_FACTOR from the one last reported, both
 * taken as at least the latency quantum: log-scale buckets centred on the
 * last report, so jitter (100 µs ↔ 180 µs) is not a change and a queue
 * building up (100 µs → 50 ms) is, and no bucket edge can flip back and
 * forth. A fall right after a rise is not a change of its own: a spike (a
 * burst held for a few ms, then the flow's usual latency again) is
 * reported once, by its rise; the fall back is carried by the flow's next
 * report, at the latest its interval report, so it is still told within
 * an interval. A level that lasted until a report after the rise (the
 * interval report confirms it) is a step, and a fall from it is a change.
 * At full speed a flow's latency spikes (0.2-7 ms, queueing on a busy
 * CPU) a few times in 4 s: both edges of each spike were half of the
 * extra reports of the bench's full-speed flows. */
#define LATENCY_CHANGE_FACTOR 2
#define LATENCY_MAX_NS 0xffffffffULL /* what flow_state keeps: 4.29 s */

static __always_inline __u32 latency_kept(__u64 ns)
{
	return ns < LATENCY_MAX_NS ? (__u32)ns : (__u32)LATENCY_MAX_NS;
}

/* latency_move: +1 when the latency rose from the last reported one by
 * more than the factor, -1 when it fell by more, 0 when it did not move. */
static __always_inline int latency_move(__u64 now_ns, __u64 last_ns, __u64 quantum)
{
	__u64 a = now_ns > quantum ? now_ns : quantum;
	__u64 b = last_ns > quantum ? last_ns : quantum;
	if (a > b * LATENCY_CHANGE_FACTOR)
		return 1;
	if (b > a * LATENCY_CHANGE_FACTOR)
		return -1;
	return 0;
}

/* hop_latency: the packet's time from its ingress port to here, on the
 * exact clock (read now if it was not yet); 0 when its ingress is unknown,
 * without reading the clock. */
static __always_inline __u32 hop_latency(__u64 in_ts, __u64 *exact, int known)
{
	return known ? latency_kept(exact_now(exact) - in_ts) : 0;
}

/* flow_filter is the per-flow report filter for a packet that crossed the
 * node from in_if to out_if: it updates the flow's state and counters and
 * returns the causes to report it with, or 0 to stay quiet. now is the
 * coarse clock, for its decisions; exact is the packet's exact time, read
 * only for its hop latency (maps.h, "two clocks"). */
static __always_inline __u8 flow_filter(struct packet *p, __u64 len, __u32 in_if, __u32 out_if, __u64 in_ts,
					__u64 now, __u64 *exact, __u8 cause, struct settings *cfg, __u64 *packets,
					__u64 *bytes)
{
	int known = !(cause & CAUSE_NO_INGRESS);

	struct flow_ref ref = {};
	struct flow_state *st = flow_find(&p->key, &ref);
	if (!st) {
		struct flow_state ns = {
			.last_report_ns = now,
			.packets = 1,
			.bytes = len,
			.ingress_ifindex = in_if,
			.egress_ifindex = out_if,
			.reported_latency_ns = hop_latency(in_ts, exact, known),
			.watch_gen = cfg->watch_gen,
			.watched = flow_watched(&p->key, cfg),
		};
		flow_insert(&ref, &p->key, &ns, now);
		if (!ns.watched) {
			count(COUNTER_UNWATCHED);
			return 0;
		}
		*packets = 1;
		*bytes = len;
		return cause | CAUSE_NEW_FLOW;
	}
	if (st->watch_gen != cfg->watch_gen) {
		/* the watchlist changed: a flow it now selects is reported as new */
		int watched = flow_watched(&p->key, cfg);
		if (watched && !st->watched)
			cause |= CAUSE_NEW_FLOW;
		st->watched = watched;
		st->watch_gen = cfg->watch_gen;
	}
	if (!st->watched) {
		count(COUNTER_UNWATCHED);
		return 0;
	}
	*packets = __sync_fetch_and_add(&st->packets, 1) + 1;
	*bytes = __sync_fetch_and_add(&st->bytes, len) + len;

	/* Only a paired packet through other ports is a port change. One
	 * without its ingress record (CAUSE_NO_INGRESS: the in-flight slot was
	 * taken by another packet, or it entered through no probed port) has
	 * for ingress only the sk_buff's last receiving device (0 for the
	 * node's own packets, whose paired ingress is the CPU port), and is
	 * often a copy: a bridge floods a broadcast, multicast or unknown
	 * unicast frame to every other port as clones of the sender's sk_buff,
	 * and only the last port gets the original with its record. Counted as
	 * port changes, the copies of a flow sent to n ports would each be
	 * reported, n reports per packet (the e2e flood test saw 800 for 200
	 * broadcasts to 4 ports), and a flow whose packets are now and then
	 * unpaired would report each of them, and the next paired packet. So
	 * it changes neither of the flow's ports; its flow is reported through
	 * them at its next paired change or interval report. */
	if (known && (st->egress_ifindex != out_if || st->ingress_ifindex != in_if)) {
		cause |= CAUSE_PORT_CHANGE;
		st->egress_ifindex = out_if;
		st->ingress_ifindex = in_if;
	}
	/* A latency change is reported at most every quarter interval, so a flow
	 * whose latency swings by factors cannot flood the collector; the last
	 * reported latency is kept until reported again, so a lasting change
	 * still is. A fall right after a rise waits for the next report (see
	 * LATENCY_CHANGE_FACTOR). The exact clock is read only past the quarter
	 * interval. */
	int move = 0;
	if (known && since(now, st->last_report_ns) >= cfg->report_interval_ns / 4)
		move = latency_move(hop_latency(in_ts, exact, known), st->reported_latency_ns, cfg->latency_quantum_ns);
	if (move > 0 || (move < 0 && !st->latency_rose))
		cause |= CAUSE_LATENCY;
	if (p->key.proto == IPPROTO_TCP && (p->tcp_flags & (TCP_FLAG_FIN | TCP_FLAG_RST)))
		cause |= CAUSE_TCP_END;

	__u64 last = st->last_report_ns;
	int due = since(now, last) >= cfg->report_interval_ns;
	if (!(cause & ~CAUSE_NO_INGRESS) && !due) {
		count(COUNTER_SUPPRESSED);
		return 0;
	}
	/* one CPU wins the interval; a loser with no other cause stays quiet */
	if (__sync_val_compare_and_swap(&st->last_report_ns, last, now) != last &&
	    !(cause & ~CAUSE_NO_INGRESS)) {
		count(COUNTER_SUPPRESSED);
		return 0;
	}
	if (due)
		cause |= CAUSE_INTERVAL;
	flow_touch(&ref, now);
	/* the collector now knows this latency: later changes count from it */
	if (known) {
		__u32 latency = hop_latency(in_ts, exact, known);
		st->latency_rose = latency_move(latency, st->reported_latency_ns, cfg->latency_quantum_ns) > 0;
		st->reported_latency_ns = latency;
	}
	return cause;
}

/* probe_egress_port reports a packet leaving the node through port out_if.
 * With paired_only, a packet without its in-flight ingress record is left
 * alone instead of being reported with an unknown ingress: the pod-side
 * probe (podside.h) sees packets the host veth's egress probe already
 * reported, and must report only those that bypassed it. It returns
 * whether it paired the packet with its ingress record. */
static __always_inline int probe_egress_port(struct __sk_buff *skb, __u32 out_if, int paired_only)
{
	count(COUNTER_PACKETS);
	struct packet p = {};
	if (parse_counted(skb, &p) != PARSE_OK)
		return 0;

	struct settings *cfg = settings();
	if (!cfg)
		return 0;
	__u64 exact = 0;
	__u64 now = decision_now(cfg, &exact);
	__u64 id = skb_id(skb);
	__u64 in_ts = 0;
	__u32 in_if = skb->ingress_ifindex;
	__u8 cause = 0;
	int paired = 0;

	/* The record is this packet's when the sk_buff and the signature match
	 * and it is fresh: the tuple may differ, NAT rewrote it on the way. */
	struct inflight *f = inflight_find(id);
	if (f && f->sig == p.sig && since(now, f->ts) <= cfg->inflight_max_age_ns) {
		in_ts = f->ts;
		in_if = f->ifindex;
		f->skb = 0;
		paired = 1;
	} else {
		if (paired_only)
			return 0;
		if (f)
			count(COUNTER_INFLIGHT_STALE);
		count(COUNTER_INGRESS_UNKNOWN);
		cause |= CAUSE_NO_INGRESS;
	}

	__u64 packets, bytes;
	cause = flow_filter(&p, skb->len, in_if, out_if, in_ts, now, &exact, cause, cfg, &packets, &bytes);
	if (cause) {
		/* without its ingress, the packet's times are its egress time */
		__u64 out_ts = exact_now(&exact);
		emit(skb, &p, paired ? in_ts : out_ts, in_if, out_if, out_ts, cause, packets, bytes);
	}
	return paired;
}

static __always_inline void probe_egress(struct __sk_buff *skb)
{
	probe_egress_port(skb, skb->ifindex, 0);
}

#include "cpu.h"
#include "podside.h"

SEC("tcx/ingress")
int podint_ingress(struct __sk_buff *skb)
{
	probe_ingress(skb);
	return TC_ACT_UNSPEC_;
}

SEC("tcx/egress")
int podint_egress(struct __sk_buff *skb)
{
	probe_egress(skb);
	return TC_ACT_UNSPEC_;
}
