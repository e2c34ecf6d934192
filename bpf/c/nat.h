/* The flow of a packet before NAT, from its conntrack entry: reports carry
 * the packet as it left the node (after a Service's DNAT or a masquerade),
 * and the daemon shows users the address it was sent to (ClusterIP:port).
 * Read only on the report path, so it costs the per-packet path nothing. */
#pragma once

#include <bpf/bpf_core_read.h>
#include "kernel.h"
#include "parse.h"

#define NFCT_INFOMASK_ 7UL
#define IP_CT_IS_REPLY_ 3
#define IP_CT_UNTRACKED_ 7
#define AF_INET_ 2
#define AF_INET6_ 10

/* pre_nat_flow fills k with the flow as the packet entered the node, as
 * conntrack recorded it for the packet's direction, and returns its ct_dir;
 * k is zero when the packet has no conntrack entry (or the kernel has no
 * conntrack). */
static __always_inline __u8 pre_nat_flow(void *kern_skb, struct flow_key *k)
{
	struct sk_buff *skb = kern_skb;
	struct nf_conntrack_tuple t;

	__builtin_memset(k, 0, sizeof(*k));
	if (!bpf_core_type_exists(struct nf_conn) || !bpf_core_field_exists(skb->_nfct))
		return CT_NONE;
	unsigned long nfct = skb->_nfct;
	__u32 info = nfct & NFCT_INFOMASK_;
	struct nf_conn *ct = (struct nf_conn *)(nfct & ~NFCT_INFOMASK_);
	if (!ct || info == IP_CT_UNTRACKED_)
		return CT_NONE;
	__u8 dir = info >= IP_CT_IS_REPLY_ ? CT_REPLY : CT_ORIGINAL;
	int err = dir == CT_REPLY ? bpf_probe_read_kernel(&t, sizeof(t), &ct->tuplehash[1].tuple)
				  : bpf_probe_read_kernel(&t, sizeof(t), &ct->tuplehash[0].tuple);
	if (err)
		return CT_NONE;
	if (t.src.l3num == AF_INET_) {
		set_v4(k->saddr, *(__be32 *)t.src.u3);
		set_v4(k->daddr, *(__be32 *)t.dst.u3);
	} else if (t.src.l3num == AF_INET6_) {
		__builtin_memcpy(k->saddr, t.src.u3, 16);
		__builtin_memcpy(k->daddr, t.dst.u3, 16);
	} else {
		return CT_NONE;
	}
	k->proto = t.dst.protonum;
	switch (k->proto) {
	case IPPROTO_TCP:
	case IPPROTO_UDP:
	case IPPROTO_SCTP_:
		k->sport = bpf_ntohs(t.src.u);
		k->dport = (__u16)t.dst.u[0] << 8 | t.dst.u[1];
		break;
	case IPPROTO_ICMP:
	case IPPROTO_ICMPV6_:
		k->sport = t.dst.u[0]; /* type */
		k->dport = t.dst.u[1]; /* code */
		break;
	}
	return dir;
}
