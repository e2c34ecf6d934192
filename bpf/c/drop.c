// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* Drop reports: the kfree_skb tracepoint with the kernel's drop reason,
 * for packets that entered the node through a probed port or were leaving
 * through one, freed in the node's network namespace, for a reason the
 * daemon's policy reports. The reason is passed on as the kernel's enum
 * value; the daemon names it from the running kernel's BTF (values differ
 * between kernels) and maps it to an INT drop reason code. */

/* Its own object (drop_bpfel.o), loaded after the TC probes' object: the
 * maps both use are pinned by name, so the second load opens the first's. */

#include "parse.h"
#include "maps.h"
#include "watch.h"
#include "kernel.h"

char __license[] SEC("license") = "Dual BSD/GPL";

/* SKB_CONSUMED on the running kernel, set by the loader from BTF: a freed
 * packet with this reason was delivered, not dropped. */
volatile const __u32 skb_consumed_reason = 1;

/* The drop reason policy, indexed by the kernel's drop reason value: an
 * enum drop_action each, written by the daemon (--drop-reasons). Reasons
 * past its end (subsystem reasons, SKB_DROP_REASON_SUBSYS_MASK) are
 * reported. */
#define DROP_POLICY_REASONS 512
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, DROP_POLICY_REASONS);
	__type(key, __u32);
	__type(value, __u32);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} drop_policy SEC(".maps");

/* Drops of probed ports the policy kept from being reported, per reason:
 * not losses, but an operator asking where a drop went finds it here. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, DROP_POLICY_REASONS);
	__type(key, __u32);
	__type(value, __u64);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} drops_excluded SEC(".maps");

static __always_inline __u32 drop_action(__u32 reason)
{
	__u32 *a = bpf_map_lookup_elem(&drop_policy, &reason);
	return a ? *a : DROP_REPORT;
}

static __always_inline void count_excluded(__u32 reason)
{
	__u64 *v = bpf_map_lookup_elem(&drops_excluded, &reason);
	if (v)
		*v += 1;
}

/* dest_is_group: the flow's destination is a multicast or broadcast
 * address (IPv6 ff00::/8; IPv4 224.0.0.0/4 or 255.255.255.255, stored
 * v4-mapped). */
static __always_inline int dest_is_group(const struct flow_key *k)
{
	const __u8 *d = k->daddr;
	if (d[0] == 0xff)
		return 1;
	if (*(const __u64 *)d != 0 || *(const __u32 *)&d[8] != bpf_htonl(0xffff))
		return 0;
	return (d[12] & 0xf0) == 0xe0 || *(const __u32 *)&d[12] == 0xffffffff;
}

static __always_inline int is_port(__u32 ifindex)
{
	return ifindex && bpf_map_lookup_elem(&ports, &ifindex) != NULL;
}

SEC("tp_btf/kfree_skb")
int podint_drop(__u64 *ctx)
{
	struct sk_buff *skb = (struct sk_buff *)ctx[0];
	__u32 reason = (__u32)ctx[2];

	if (reason == skb_consumed_reason || !skb)
		return 0;
	struct settings *cfg = settings();
	if (!cfg)
		return 0;

	__u64 now = bpf_ktime_get_ns();
	__u64 id = (__u64)(unsigned long)skb - (__u64)(unsigned long)&inflight;
	__u64 in_ts = now;
	__u32 in_if = 0, out_if = 0, iif_port = 0, rec_sig = 0;
	struct inflight *f = inflight_find(id);
	/* a packet the node sent (CPU port) counts as entering through no
	 * probed port: the node's own traffic on lo is not reported */
	if (f && f->ifindex != CPU_PORT && now - f->ts <= cfg->inflight_max_age_ns) {
		in_ts = f->ts;
		in_if = f->ifindex;
		rec_sig = f->sig;
	}
	struct net_device *dev = skb->dev;
	__u32 dev_ns = dev ? dev->nd_net.net->ns.inum : 0;
	if (dev && dev_ns == cfg->netns_ino) {
		__u32 iif = skb->skb_iif;
		__u32 devif = dev->ifindex;
		if (is_port(iif))
			iif_port = iif;
		if (!in_if)
			in_if = iif_port;
		if (devif != in_if && is_port(devif))
			out_if = devif; /* dropped on its way out, e.g. by a qdisc */
	}
	if (f)
		f->skb = 0;
	/* Only a free in the node's namespace is the node's drop, even when
	 * an ingress record says the packet once entered through a port: one
	 * no egress probe paired (NAT) outlives the packet's crossing into a
	 * pod, and a stale one's sk_buff may be reused anywhere. The device
	 * says where; without one (a socket's queue) the owning socket does;
	 * a free with neither is not counted. */
	__u32 where = dev_ns;
	if (!dev) {
		struct sock *sk = skb->sk;
		where = sk ? sk->__sk_common.skc_net.net->ns.inum : 0;
	}
	if (where != cfg->netns_ino)
		return 0;
	if (!in_if && !out_if)
		return 0;
	__u32 action = drop_action(reason);
	if (action == DROP_SKIP) {
		count_excluded(reason);
		return 0;
	}

	__u32 zero = 0;
	struct event *ev = bpf_map_lookup_elem(&scratch, &zero);
	if (!ev)
		return 0;
	ev->snap_len = 0;
	__u16 nh = skb->network_header;
	__u32 linear = skb->tail - nh;
	if (nh != (__u16)~0U && skb->tail > nh) {
		__u32 limit = cfg->snap_len && cfg->snap_len < SNAP_LEN ? cfg->snap_len : SNAP_LEN;
		__u32 snap = linear < limit ? linear : limit;
		snap = ((snap - 1) & (SNAP_LEN - 1)) + 1;
		if (bpf_probe_read_kernel(ev->data, snap, skb->head + nh) == 0)
			ev->snap_len = snap;
	}
	struct packet sp = {};
	int parsed = parse_l3_buf(ev->data, ev->snap_len, &sp);
	int has_flow = parsed == PARSE_OK || parsed == PARSE_NO_L4;
	ev->flow = sp.key;
	if (action == DROP_SKIP_GROUP && has_flow && dest_is_group(&ev->flow)) {
		count_excluded(reason);
		return 0;
	}
	count(COUNTER_DROPS_SEEN);
	if (!has_flow)
		return 0; /* not IP, or not readable: no flow to report */
	/* The record must be this packet's: a freed sk_buff's address is soon
	 * another packet's, maybe in another namespace. */
	if (in_ts != now && (parsed != PARSE_OK || sp.sig != rec_sig)) {
		count(COUNTER_INFLIGHT_STALE);
		in_ts = now;
		in_if = iif_port;
		if (!in_if && !out_if)
			return 0;
	}
	if (!flow_watched(&ev->flow, cfg))
		return 0;

	struct drop_key dk = {.flow = ev->flow, .reason = reason};
	__u32 len = skb->len;
	struct drop_state *ds = bpf_map_lookup_elem(&drops, &dk);
	__u64 drops_n = 1, bytes = len;
	if (ds) {
		drops_n = __sync_fetch_and_add(&ds->drops, 1) + 1;
		bytes = __sync_fetch_and_add(&ds->bytes, len) + len;
		__u64 last = ds->last_report_ns;
		if (now - last < cfg->report_interval_ns ||
		    __sync_val_compare_and_swap(&ds->last_report_ns, last, now) != last) {
			count(COUNTER_DROPS_SUPPRESSED);
			return 0;
		}
	} else {
		struct drop_state s = {.last_report_ns = now, .drops = 1, .bytes = len};
		bpf_map_update_elem(&drops, &dk, &s, BPF_ANY);
	}

	event_head(ev, EVENT_DROP, in_ts == now ? CAUSE_NO_INGRESS : 0, in_ts, in_if, out_if, now, drops_n, bytes);
	ev->pkt_len = len;
	ev->drop_reason = reason;
	ev->l2 = 0;
	if (bpf_ringbuf_output(&events, ev, sizeof(*ev), ringbuf_flags()) != 0) {
		count(COUNTER_RINGBUF_FULL);
		return 0;
	}
	count(COUNTER_EVENTS);
	return 0;
}
