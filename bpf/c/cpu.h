/* The node's own stack as a port, as an INT switch has a CPU port. Its
 * port id is CPU_PORT, the loopback's ifindex (1 in every network
 * namespace). Two netfilter programs, in the node's namespace only:
 *  - LOCAL_IN, last: a packet that entered through a probed port and is
 *    delivered to a socket of the node leaves through the CPU port; its
 *    hop latency is the time from its ingress port to here;
 *  - LOCAL_OUT, first: a packet the node sends enters through the CPU port;
 *    it is recorded in flight like at an ingress port, so the egress probe
 *    pairs it, with the time from here to its egress port.
 * They only observe: both always return NF_ACCEPT. */
#pragma once

#include "maps.h"
#include "kernel.h"
#include "parse.h"
#include "nat.h"

#define NF_ACCEPT_ 1

struct bpf_nf_ctx {
	const void *state;
	struct sk_buff *skb;
};

/* l3_read copies the packet from its network header (its linear part, up
 * to SNAP_LEN bytes) into buf and returns how many bytes it copied. */
static __always_inline __u32 l3_read(struct sk_buff *skb, __u8 *buf)
{
	__u16 nh = skb->network_header;
	unsigned int tail = skb->tail;
	if (nh == (__u16)~0U || tail <= nh)
		return 0;
	__u32 n = tail - nh;
	n = n < SNAP_LEN ? n : SNAP_LEN;
	n = ((n - 1) & (SNAP_LEN - 1)) + 1;
	if (bpf_probe_read_kernel(buf, n, skb->head + nh) != 0)
		return 0;
	return n;
}

/* is_tunnel says whether p is an overlay's outer packet (VXLAN, Geneve):
 * the node's stack encapsulates forwarded packets into them and
 * decapsulates them, but they are not traffic of the node itself. Their
 * in-flight record is their inner packet's (the probes report overlays by
 * their inner flow), which the CPU port must neither overwrite nor consume. */
static __always_inline int is_tunnel(const struct packet *p)
{
	return p->key.proto == IPPROTO_UDP && is_overlay_port(p->key.dport);
}

SEC("netfilter")
int podint_local_in(struct bpf_nf_ctx *ctx)
{
	struct sk_buff *skb = ctx->skb;
	struct settings *cfg = settings();
	if (!skb || !cfg)
		return NF_ACCEPT_;
	__u64 id = (__u64)(unsigned long)skb - (__u64)(unsigned long)&inflight;
	struct inflight *f = inflight_find(id);
	if (!f)
		return NF_ACCEPT_; /* did not enter through a probed port */
	__u32 zero = 0;
	struct event *ev = bpf_map_lookup_elem(&scratch, &zero);
	if (!ev)
		return NF_ACCEPT_;
	struct packet p = {};
	__u32 n = l3_read(skb, ev->data);
	/* netfilter programs may not read the coarse clock: the exact one
	 * serves the report filter's decisions too (maps.h, "two clocks") */
	__u64 now = bpf_ktime_get_ns();
	__u64 exact = now;
	int parsed = parse_l3_buf(ev->data, n, &p);
	if (parsed == PARSE_OK && is_tunnel(&p))
		return NF_ACCEPT_; /* decapsulated next; its inner packet goes on */
	if (parsed != PARSE_OK || f->sig != p.sig || now - f->ts > cfg->inflight_max_age_ns) {
		count(COUNTER_INFLIGHT_STALE);
		return NF_ACCEPT_;
	}
	__u64 in_ts = f->ts;
	__u32 in_if = f->ifindex;
	f->skb = 0;
	if (in_if == CPU_PORT)
		return NF_ACCEPT_; /* the node to itself: it crossed no port */

	__u64 packets, bytes;
	__u32 len = skb->len;
	__u8 cause = flow_filter(&p, len, in_if, CPU_PORT, in_ts, now, &exact, 0, cfg, &packets, &bytes);
	if (!cause)
		return NF_ACCEPT_;
	event_head(ev, EVENT_FLOW, cause, in_ts, in_if, CPU_PORT, now, packets, bytes);
	ev->pkt_len = len;
	ev->snap_len = n;
	ev->l2 = 0;
	ev->flow = p.key;
	ev->ct_dir = pre_nat_flow(skb, &ev->pre_nat);
	if (bpf_ringbuf_output(&events, ev, sizeof(*ev), ringbuf_flags()) != 0) {
		count(COUNTER_RINGBUF_FULL);
		return NF_ACCEPT_;
	}
	count(COUNTER_EVENTS);
	count_causes(cause);
	return NF_ACCEPT_;
}

SEC("netfilter")
int podint_local_out(struct bpf_nf_ctx *ctx)
{
	struct sk_buff *skb = ctx->skb;
	if (!skb)
		return NF_ACCEPT_;
	__u32 zero = 0;
	struct event *ev = bpf_map_lookup_elem(&scratch, &zero);
	if (!ev)
		return NF_ACCEPT_;
	struct packet p = {};
	if (parse_l3_buf(ev->data, l3_read(skb, ev->data), &p) != PARSE_OK || is_tunnel(&p))
		return NF_ACCEPT_; /* a tunnel: keeps the record of the packet it carries */
	__u64 id = (__u64)(unsigned long)skb - (__u64)(unsigned long)&inflight;
	struct inflight *v = inflight_slot(id);
	if (!v)
		return NF_ACCEPT_;
	__u64 ts = bpf_ktime_get_ns();
	v->skb = id;
	v->ts = ts;
	v->ifindex = CPU_PORT;
	v->sig = p.sig;
	v->check = inflight_check(id, ts, CPU_PORT, p.sig);
	return NF_ACCEPT_;
}
