// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* A test fixture, not part of podint: the datapath of an eBPF CNI with "BPF
 * host routing" (Cilium's, in miniature), to prove podint sees every packet
 * such a datapath moves around the host veth. IPv4 only.
 *
 * from_container, on a pod's host veth TCX ingress: a packet for a local
 * pod gets the pods' MACs and is moved straight into the destination pod
 * with bpf_redirect_peer; any other is routed by a FIB lookup and sent out
 * with bpf_redirect_neigh (or bpf_redirect, the MACs filled from the FIB)
 * without the host stack. from_netdev, on the uplink's or the overlay
 * device's ingress: a packet for a local pod goes into it with
 * bpf_redirect_peer. Everything else continues (TCX_NEXT), so the fixture
 * only differs from the kernel's own path by the redirects. */
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/ip.h>
#include <linux/pkt_cls.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

#define AF_INET_ 2
#define TCX_NEXT_ (-1) /* TC_ACT_UNSPEC: the next program, then the kernel */

char __license[] SEC("license") = "Dual BSD/GPL";

/* A local pod, by IPv4 address (network byte order), as Cilium's lxc map
 * holds it: its host veth in the node and the MACs to write. */
struct endpoint {
	__u32 host_ifindex;
	__u8 pod_mac[6];
	__u8 host_mac[6];
};

/* How from_container sends packets that are not for a local pod. */
enum egress_mode {
	EGRESS_STACK = 0,    /* continue: the host stack routes them */
	EGRESS_NEIGH = 1,    /* bpf_redirect_neigh to the FIB's device */
	EGRESS_REDIRECT = 2, /* bpf_redirect with the FIB's MACs (neigh when unresolved) */
};

/* How to_pod delivers a packet to a local pod. */
enum delivery {
	DELIVER_PEER = 0,   /* bpf_redirect_peer into the pod (BPF host routing) */
	DELIVER_EGRESS = 1, /* bpf_redirect to the host veth's egress (legacy host routing's local delivery) */
};

enum stat {
	STAT_PEER = 0,    /* bpf_redirect_peer into a pod */
	STAT_NEIGH,       /* bpf_redirect_neigh out of the node */
	STAT_REDIRECT,    /* bpf_redirect out of the node */
	STAT_CONTINUED,   /* IPv4 packets left to the kernel */
	STAT_EGRESS,      /* bpf_redirect to a pod's host veth egress */
	STAT_MAX,
};

const enum egress_mode *unused_egress_mode __attribute__((unused));
const enum stat *unused_stat __attribute__((unused));
const enum delivery *unused_delivery __attribute__((unused));
const struct endpoint *unused_endpoint __attribute__((unused));

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 256);
	__type(key, __u32);
	__type(value, struct endpoint);
} endpoints SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u32);
} egress SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u32);
} delivery_mode SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, STAT_MAX);
	__type(key, __u32);
	__type(value, __u64);
} stats SEC(".maps");

static __always_inline void stat(__u32 i)
{
	__u64 *v = bpf_map_lookup_elem(&stats, &i);
	if (v)
		__sync_fetch_and_add(v, 1);
}

static __always_inline struct iphdr *ipv4(struct __sk_buff *skb)
{
	void *data = (void *)(long)skb->data, *end = (void *)(long)skb->data_end;
	struct ethhdr *eth = data;
	struct iphdr *ip = data + sizeof(*eth);
	if ((void *)(ip + 1) > end || eth->h_proto != bpf_htons(ETH_P_IP))
		return 0;
	return ip;
}

static __always_inline int set_macs(struct __sk_buff *skb, const __u8 *dst, const __u8 *src)
{
	if (bpf_skb_store_bytes(skb, 0, dst, 6, 0) < 0)
		return -1;
	return bpf_skb_store_bytes(skb, 6, src, 6, 0);
}

/* to_pod moves a packet for a local pod into it, or returns -1. */
static __always_inline int to_pod(struct __sk_buff *skb, __u32 daddr)
{
	struct endpoint *ep = bpf_map_lookup_elem(&endpoints, &daddr);
	if (!ep)
		return -1;
	struct endpoint e = *ep;
	if (set_macs(skb, e.pod_mac, e.host_mac) < 0)
		return -1;
	__u32 zero = 0, *how = bpf_map_lookup_elem(&delivery_mode, &zero);
	if (how && *how == DELIVER_EGRESS) {
		stat(STAT_EGRESS);
		return bpf_redirect(e.host_ifindex, 0);
	}
	stat(STAT_PEER);
	return bpf_redirect_peer(e.host_ifindex, 0);
}

SEC("tcx/ingress")
int from_container(struct __sk_buff *skb)
{
	struct iphdr *ip = ipv4(skb);
	if (!ip)
		return TCX_NEXT_;
	__u32 daddr = ip->daddr;
	struct bpf_fib_lookup fib = {
		.family = AF_INET_,
		.tos = ip->tos,
		.l4_protocol = ip->protocol,
		.tot_len = bpf_ntohs(ip->tot_len),
		.ifindex = skb->ingress_ifindex,
		.ipv4_src = ip->saddr,
		.ipv4_dst = ip->daddr,
	};
	int r = to_pod(skb, daddr);
	if (r >= 0)
		return r;

	__u32 zero = 0, *mode = bpf_map_lookup_elem(&egress, &zero);
	if (!mode || *mode == EGRESS_STACK)
		goto cont;
	long rc = bpf_fib_lookup(skb, &fib, sizeof(fib), 0);
	if (*mode == EGRESS_REDIRECT && rc == BPF_FIB_LKUP_RET_SUCCESS) {
		if (set_macs(skb, fib.dmac, fib.smac) < 0)
			goto cont;
		stat(STAT_REDIRECT);
		return bpf_redirect(fib.ifindex, 0);
	}
	if (rc == BPF_FIB_LKUP_RET_SUCCESS || rc == BPF_FIB_LKUP_RET_NO_NEIGH) {
		stat(STAT_NEIGH);
		return bpf_redirect_neigh(fib.ifindex, 0, 0, 0);
	}
cont:
	stat(STAT_CONTINUED);
	return TCX_NEXT_;
}

SEC("tcx/ingress")
int from_netdev(struct __sk_buff *skb)
{
	struct iphdr *ip = ipv4(skb);
	if (!ip)
		return TCX_NEXT_;
	int r = to_pod(skb, ip->daddr);
	if (r >= 0)
		return r;
	stat(STAT_CONTINUED);
	return TCX_NEXT_;
}
