/* Packet parsing for the probes. Headers are read with bpf_skb_load_bytes so
 * that non-linear skbs (GRO, large veth frames) parse as well as linear
 * ones; every read is bounds-checked by the helper, so a truncated or
 * malformed packet only makes the parse stop, never the packet. */
#pragma once

#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>
#include "probe.h"

#define ETH_P_8021Q_ 0x8100
#define ETH_P_8021AD_ 0x88A8
#define MAX_VLAN_TAGS 2
#define MAX_IPV6_EXT 6

#define IPPROTO_ICMPV6_ 58
#define IPPROTO_SCTP_ 132
#define NEXTHDR_HOP 0
#define NEXTHDR_ROUTING 43
#define NEXTHDR_FRAGMENT 44
#define NEXTHDR_AUTH 51
#define NEXTHDR_DEST 60

#define VXLAN_PORT 4789
#define VXLAN_LINUX_PORT 8472
#define GENEVE_PORT 6081
#define ETH_P_TEB_ 0x6558

/* is_overlay_port: a UDP destination port of an overlay (VXLAN, Geneve),
 * whose packets the probes report by their inner flow. */
static __always_inline int is_overlay_port(__u16 dport)
{
	return dport == VXLAN_PORT || dport == VXLAN_LINUX_PORT || dport == GENEVE_PORT;
}

enum parse_result {
	PARSE_OK = 0,
	PARSE_NOT_IP = 1,
	PARSE_TRUNCATED = 2,
};

struct packet {
	struct flow_key key;
	/* sig: a hash of what NAT leaves alone (see sig_mix), to tell at egress
	 * whether an in-flight record is this packet's, whatever NAT did to its
	 * addresses and ports. */
	__u32 sig;
	__u32 frame_off; /* offset of the Ethernet header of the reported frame */
	__u8 tcp_flags;
	__u8 l4_ok;      /* ports/type were read (not a later fragment, not truncated) */
	__u8 outer;      /* the flow is the inner flow of an overlay packet */
};

struct l4_hdr {
	__be16 sport;
	__be16 dport;
	__u8 rest[10];
};

/* sig_mix adds a header field to the packet's signature (FNV-1a over 32-bit
 * words). The fields are those DNAT, SNAT and masquerade never rewrite and
 * forwarding never changes: IPv4 ID and total length, IPv6 flow label and
 * payload length, TCP sequence, acknowledgment and flags, the first
 * payload word of UDP, the ICMP echo sequence, the SCTP verification tag.
 * Not ports, addresses, checksums, the ICMP echo id or the TTL. */
static __always_inline void sig_mix(struct packet *p, __u32 w)
{
	p->sig = (p->sig ^ w) * 16777619u;
}

static __always_inline __u32 be16_at(const __u8 *b)
{
	return (__u32)b[0] << 8 | b[1];
}

static __always_inline __u32 be32_at(const __u8 *b)
{
	return (__u32)b[0] << 24 | (__u32)b[1] << 16 | (__u32)b[2] << 8 | b[3];
}

static __always_inline void set_v4(__u8 *dst, __be32 addr)
{
	__builtin_memset(dst, 0, 10);
	dst[10] = 0xff;
	dst[11] = 0xff;
	__builtin_memcpy(dst + 12, &addr, 4);
}

/* parse_l4 reads ports (or ICMP type/code) and TCP flags at off. */
static __always_inline int parse_l4(struct __sk_buff *skb, __u32 off, struct packet *p)
{
	struct l4_hdr h;

	switch (p->key.proto) {
	case IPPROTO_TCP:
		if (bpf_skb_load_bytes(skb, off, &h, 14) < 0)
			return PARSE_TRUNCATED;
		p->tcp_flags = h.rest[9];
		sig_mix(p, be32_at(&h.rest[0])); /* seq */
		sig_mix(p, be32_at(&h.rest[4])); /* ack */
		sig_mix(p, h.rest[9]);
		break;
	case IPPROTO_UDP:
	case IPPROTO_SCTP_:
		if (bpf_skb_load_bytes(skb, off, &h, 12) == 0) {
			if (p->key.proto == IPPROTO_SCTP_)
				sig_mix(p, be32_at(&h.rest[0])); /* verification tag */
			else if (be16_at(&h.rest[0]) >= 12) /* a payload word, not padding */
				sig_mix(p, be32_at(&h.rest[4]));
		} else if (bpf_skb_load_bytes(skb, off, &h, 4) < 0) {
			return PARSE_TRUNCATED;
		}
		break;
	case IPPROTO_ICMP:
	case IPPROTO_ICMPV6_: {
		__u8 tc[8];
		if (bpf_skb_load_bytes(skb, off, tc, 2) < 0)
			return PARSE_TRUNCATED;
		p->key.sport = tc[0];
		p->key.dport = tc[1];
		p->l4_ok = 1;
		sig_mix(p, (__u32)tc[0] << 8 | tc[1]);
		/* echo: NAT rewrites the id (bytes 4-5), not the sequence */
		if ((tc[0] == 8 || tc[0] == 0 || tc[0] == 128 || tc[0] == 129) &&
		    bpf_skb_load_bytes(skb, off, tc, 8) == 0)
			sig_mix(p, be16_at(&tc[6]));
		return PARSE_OK;
	}
	default:
		return PARSE_OK; /* other protocols are flows by address only */
	}
	p->key.sport = bpf_ntohs(h.sport);
	p->key.dport = bpf_ntohs(h.dport);
	p->l4_ok = 1;
	return PARSE_OK;
}

/* parse_ipv6_ext walks IPv6 extension headers from *off, leaving *off at
 * the upper-layer header and *nexthdr naming it. It returns 0 when that
 * header can be read, 1 when there is none to read (a later fragment, or
 * more extension headers than we follow), or PARSE_TRUNCATED. */
static __always_inline int parse_ipv6_ext(struct __sk_buff *skb, __u32 *off, __u8 *nexthdr)
{
	__u32 o = *off;
	__u8 nh = *nexthdr;
	int more = 1;

#pragma unroll
	for (int i = 0; i < MAX_IPV6_EXT; i++) {
		__u8 h[4] = {};
		__u32 len;

		if (nh != NEXTHDR_HOP && nh != NEXTHDR_ROUTING && nh != NEXTHDR_DEST &&
		    nh != NEXTHDR_AUTH && nh != NEXTHDR_FRAGMENT) {
			more = 0;
			break;
		}
		if (bpf_skb_load_bytes(skb, o, h, 4) < 0)
			return PARSE_TRUNCATED;
		if (nh == NEXTHDR_FRAGMENT) {
			len = 8;
			/* fragment offset: the top 13 bits of bytes 2..3 */
			if ((((__u32)h[2] << 8 | h[3]) & 0xfff8) != 0) {
				*nexthdr = h[0];
				return 1;
			}
		} else if (nh == NEXTHDR_AUTH) {
			len = ((__u32)h[1] + 2) * 4;
		} else {
			len = ((__u32)h[1] + 1) * 8;
		}
		nh = h[0];
		o += len;
	}
	*off = o;
	*nexthdr = nh;
	return more;
}

/* parse_frame parses an Ethernet frame starting at off into p. It is a
 * global function so the verifier checks it once, on its own, rather than
 * once per call site and path into it: the probes stay far below the
 * verifier's instruction budget. */
__noinline int parse_frame(struct __sk_buff *skb, __u32 off, struct packet *p)
{
	__be16 proto;

	if (!p)
		return PARSE_TRUNCATED;

	if (bpf_skb_load_bytes(skb, off + 12, &proto, 2) < 0)
		return PARSE_TRUNCATED;
	off += ETH_HLEN;
#pragma unroll
	for (int i = 0; i < MAX_VLAN_TAGS; i++) {
		if (proto != bpf_htons(ETH_P_8021Q_) && proto != bpf_htons(ETH_P_8021AD_))
			break;
		if (bpf_skb_load_bytes(skb, off + 2, &proto, 2) < 0)
			return PARSE_TRUNCATED;
		off += 4;
	}

	if (proto == bpf_htons(ETH_P_IP)) {
		__u8 ip[20];
		if (bpf_skb_load_bytes(skb, off, ip, 20) < 0)
			return PARSE_TRUNCATED;
		__u32 ihl = ip[0] & 0x0f;
		if ((ip[0] >> 4) != 4 || ihl < 5)
			return PARSE_TRUNCATED;
		p->key.proto = ip[9];
		set_v4(p->key.saddr, *(__be32 *)&ip[12]);
		set_v4(p->key.daddr, *(__be32 *)&ip[16]);
		sig_mix(p, ip[9]);
		sig_mix(p, be32_at(&ip[2])); /* total length, ID */
		sig_mix(p, be16_at(&ip[6])); /* fragment offset */
		/* a later fragment carries no L4 header */
		if (((ip[6] << 8 | ip[7]) & 0x1fff) != 0)
			return PARSE_OK;
		off += ihl * 4;
	} else if (proto == bpf_htons(ETH_P_IPV6)) {
		__u8 ip6[40];
		if (bpf_skb_load_bytes(skb, off, ip6, 40) < 0)
			return PARSE_TRUNCATED;
		if ((ip6[0] >> 4) != 6)
			return PARSE_TRUNCATED;
		__builtin_memcpy(p->key.saddr, &ip6[8], 16);
		__builtin_memcpy(p->key.daddr, &ip6[24], 16);
		__u8 nexthdr = ip6[6];
		off += 40;
		int r = parse_ipv6_ext(skb, &off, &nexthdr);
		p->key.proto = nexthdr;
		sig_mix(p, nexthdr);
		sig_mix(p, be32_at(&ip6[0]) & 0xfffff); /* flow label */
		sig_mix(p, be16_at(&ip6[4]));           /* payload length */
		if (r == PARSE_TRUNCATED)
			return r;
		if (r != 0)
			return PARSE_OK; /* a flow by address */
	} else {
		return PARSE_NOT_IP;
	}
	int r = parse_l4(skb, off, p);
	if (r != PARSE_OK)
		return r;
	/* remember where an overlay's inner frame starts */
	if (p->key.proto == IPPROTO_UDP) {
		if (p->key.dport == VXLAN_PORT || p->key.dport == VXLAN_LINUX_PORT)
			return -(int)(off + 8 + 8); /* UDP + VXLAN headers */
		if (p->key.dport == GENEVE_PORT) {
			__u8 g[4];
			if (bpf_skb_load_bytes(skb, off + 8, g, 4) < 0)
				return PARSE_OK;
			if (g[2] != 0x65 || g[3] != 0x58) /* inner is not Ethernet */
				return PARSE_OK;
			return -(int)(off + 8 + 8 + (g[0] & 0x3f) * 4);
		}
	}
	return PARSE_OK;
}


/* parse_direct reads the common packet, Ethernet + IPv4 (no options, not a
 * fragment) or IPv6 (no extension header) + TCP or UDP (not an overlay
 * port), straight from the linear data: no helper calls. Anything else, or
 * headers outside the linear part, returns -1 for parse_frame. */
static __always_inline int parse_direct(struct __sk_buff *skb, struct packet *p)
{
	void *data = (void *)(long)skb->data;
	void *end = (void *)(long)skb->data_end;
	__u8 *eth = data;
	if ((void *)(eth + 14) > end)
		return -1;
	__be16 proto = *(__be16 *)(eth + 12);
	__u8 *l4;
	__u8 l4proto;
	if (proto == bpf_htons(ETH_P_IP)) {
		__u8 *ip = eth + 14;
		if ((void *)(ip + 20) > end)
			return -1;
		if (ip[0] != 0x45 || ((ip[6] << 8 | ip[7]) & 0x3fff) != 0)
			return -1;
		l4proto = ip[9];
		l4 = ip + 20;
		if (l4proto != IPPROTO_TCP && l4proto != IPPROTO_UDP)
			return -1;
		if ((void *)(l4 + 14) > end)
			return -1;
		set_v4(p->key.saddr, *(__be32 *)&ip[12]);
		set_v4(p->key.daddr, *(__be32 *)&ip[16]);
		/* the same words, in the same order, as parse_frame mixes */
		sig_mix(p, l4proto);
		sig_mix(p, be32_at(&ip[2]));
		sig_mix(p, be16_at(&ip[6]));
	} else if (proto == bpf_htons(ETH_P_IPV6)) {
		__u8 *ip6 = eth + 14;
		if ((void *)(ip6 + 40) > end)
			return -1;
		if ((ip6[0] >> 4) != 6)
			return -1;
		l4proto = ip6[6];
		l4 = ip6 + 40;
		if (l4proto != IPPROTO_TCP && l4proto != IPPROTO_UDP)
			return -1;
		if ((void *)(l4 + 14) > end)
			return -1;
		__builtin_memcpy(p->key.saddr, &ip6[8], 16);
		__builtin_memcpy(p->key.daddr, &ip6[24], 16);
		sig_mix(p, l4proto);
		sig_mix(p, be32_at(&ip6[0]) & 0xfffff);
		sig_mix(p, be16_at(&ip6[4]));
	} else {
		return -1;
	}
	__u16 sport = (__u16)l4[0] << 8 | l4[1];
	__u16 dport = (__u16)l4[2] << 8 | l4[3];
	if (l4proto == IPPROTO_UDP && is_overlay_port(dport))
		return -1;
	p->key.proto = l4proto;
	p->key.sport = sport;
	p->key.dport = dport;
	p->tcp_flags = l4proto == IPPROTO_TCP ? l4[13] : 0;
	p->l4_ok = 1;
	if (l4proto == IPPROTO_TCP) {
		sig_mix(p, be32_at(&l4[4]));
		sig_mix(p, be32_at(&l4[8]));
		sig_mix(p, l4[13]);
	} else if (be16_at(&l4[4]) >= 12) {
		sig_mix(p, be32_at(&l4[8]));
	}
	return PARSE_OK;
}

/* parse_packet parses skb from its Ethernet header; for overlay packets it
 * reports the inner flow, and keeps the outer flow when the inner one does
 * not parse (the packet is still observed, by its tunnel). */
static __always_inline int parse_packet(struct __sk_buff *skb, struct packet *p)
{
	if (parse_direct(skb, p) == PARSE_OK)
		return PARSE_OK;
	__builtin_memset(p, 0, sizeof(*p));
	int r = parse_frame(skb, 0, p);
	if (r >= 0)
		return r;
	struct packet inner = {};
	__u32 off = (__u32)(-r);
	if (parse_frame(skb, off, &inner) == PARSE_OK) {
		*p = inner;
		p->frame_off = off;
		p->outer = 1;
	}
	return PARSE_OK;
}
