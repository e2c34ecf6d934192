/* Drop reports: the kfree_skb tracepoint with the kernel's drop reason,
 * for packets that entered the node through a probed port or were leaving
 * through one. The reason is passed on as the kernel's enum value; the
 * daemon names it from the running kernel's BTF (values differ between
 * kernels) and maps it to an INT drop reason code. */
#pragma once

#include "maps.h"
#include "watch.h"
#include "kernel.h"

/* SKB_CONSUMED on the running kernel, set by the loader from BTF: a freed
 * packet with this reason was delivered, not dropped. */
volatile const __u32 skb_consumed_reason = 1;

/* parse_l3_buf reads the flow of an IP packet captured from its network
 * header. It returns 0 when at least the addresses were read. */
static __always_inline int parse_l3_buf(const __u8 *d, __u32 n, struct flow_key *k)
{
	__u32 off;

	if (n < 20)
		return -1;
	if ((d[0] >> 4) == 4) {
		__u32 ihl = (d[0] & 0x0f) * 4;
		if (ihl < 20)
			return -1;
		k->proto = d[9];
		set_v4(k->saddr, *(const __be32 *)&d[12]);
		set_v4(k->daddr, *(const __be32 *)&d[16]);
		if (((d[6] << 8 | d[7]) & 0x1fff) != 0)
			return 0;
		off = ihl;
	} else if ((d[0] >> 4) == 6) {
		if (n < 40)
			return -1;
		__builtin_memcpy(k->saddr, &d[8], 16);
		__builtin_memcpy(k->daddr, &d[24], 16);
		k->proto = d[6];
		off = 40;
	} else {
		return -1;
	}
	off &= 0x3f; /* at most 60: keeps the reads below inside the buffer */
	if (off + 4 > n)
		return 0;
	switch (k->proto) {
	case IPPROTO_TCP:
	case IPPROTO_UDP:
	case IPPROTO_SCTP_:
		k->sport = (__u16)d[off] << 8 | d[off + 1];
		k->dport = (__u16)d[off + 2] << 8 | d[off + 3];
		break;
	case IPPROTO_ICMP:
	case IPPROTO_ICMPV6_:
		k->sport = d[off];
		k->dport = d[off + 1];
		break;
	}
	return 0;
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
	__u32 in_if = 0, out_if = 0;
	struct inflight *f = inflight_find(id);
	struct net_device *dev = skb->dev;
	/* A packet freed inside a pod's namespace was delivered there (the
	 * pod's own stack dropped it: no listener, its firewall...): not the
	 * node's drop, even when a CNI redirected it past the probe that would
	 * have paired its ingress record. */
	int in_node = !dev || dev->nd_net.net->ns.inum == cfg->netns_ino;
	if (f && in_node && now - f->ts <= cfg->inflight_max_age_ns) {
		in_ts = f->ts;
		in_if = f->ifindex;
	}
	if (dev && in_node) {
		__u32 iif = skb->skb_iif;
		__u32 devif = dev->ifindex;
		if (!in_if && is_port(iif))
			in_if = iif;
		if (devif != in_if && is_port(devif))
			out_if = devif; /* dropped on its way out, e.g. by a qdisc */
	}
	if (!in_if && !out_if)
		return 0;
	if (f)
		f->skb = 0;
	count(COUNTER_DROPS_SEEN);

	__u32 zero = 0;
	struct event *ev = bpf_map_lookup_elem(&scratch, &zero);
	if (!ev)
		return 0;
	__builtin_memset(&ev->flow, 0, sizeof(ev->flow));
	ev->snap_len = 0;
	__u16 nh = skb->network_header;
	__u32 linear = skb->tail - nh;
	if (nh != (__u16)~0U && skb->tail > nh) {
		__u32 snap = linear < SNAP_LEN ? linear : SNAP_LEN;
		snap = ((snap - 1) & (SNAP_LEN - 1)) + 1;
		if (bpf_probe_read_kernel(ev->data, snap, skb->head + nh) == 0)
			ev->snap_len = snap;
	}
	if (parse_l3_buf(ev->data, ev->snap_len, &ev->flow) != 0)
		return 0; /* not IP, or not readable: no flow to report */
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

	ev->ingress_ts = in_ts;
	ev->egress_ts = now;
	ev->packets = drops_n;
	ev->bytes = bytes;
	ev->ingress_ifindex = in_if;
	ev->egress_ifindex = out_if;
	ev->pkt_len = len;
	ev->drop_reason = reason;
	ev->type = EVENT_DROP;
	ev->cause = in_ts == now ? CAUSE_NO_INGRESS : 0;
	ev->l2 = 0;
	if (bpf_ringbuf_output(&events, ev, sizeof(*ev), 0) != 0) {
		count(COUNTER_RINGBUF_FULL);
		return 0;
	}
	count(COUNTER_EVENTS);
	return 0;
}
