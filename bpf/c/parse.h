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

#include "wire.h"

#define FNV32_PRIME 16777619u /* the 32-bit FNV-1a multiplier, for the packet signature */

/* is_overlay_port: a UDP destination port of an overlay (VXLAN, Geneve),
 * whose packets the probes report by their inner flow. */
static __always_inline int is_overlay_port(__u16 dport)
{
	return dport == VXLAN_PORT || dport == VXLAN_LINUX_PORT || dport == GENEVE_PORT;
}

/* What every parser returns. */
enum parse_result {
	PARSE_OK = 0,        /* p holds the flow and the signature */
	PARSE_NOT_IP = 1,    /* not IPv4 or IPv6 */
	PARSE_TRUNCATED = 2, /* a header shorter than it claims, or malformed */
	PARSE_NO_L4 = 3,     /* the addresses are read, not the transport header (a later fragment, or IPv6 extension headers not followed) */
	PARSE_OVERLAY = 4,   /* parse_frame: an overlay's outer packet, its inner frame at p->inner_off */
	PARSE_INDIRECT = 5,  /* parse_direct: not a packet it reads; parse_frame does */
};

struct packet {
	struct flow_key key;
	/* sig: a hash of what NAT leaves alone (see sig_mix), to tell at egress
	 * whether an in-flight record is this packet's, whatever NAT did to its
	 * addresses and ports. */
	__u32 sig;
	__u32 frame_off; /* offset of the Ethernet header of the reported frame */
	__u32 inner_off; /* PARSE_OVERLAY: offset of the inner Ethernet header */
	__u8 tcp_flags;
	__u8 l4_ok;      /* ports/type were read (not a later fragment, not truncated) */
	__u8 outer;      /* the flow is the inner flow of an overlay packet */
};

/* sig_mix adds a header field to the packet's signature (FNV-1a over 32-bit
 * words). The fields are those DNAT, SNAT and masquerade never rewrite and
 * forwarding never changes: IPv4 ID and total length, IPv6 flow label and
 * payload length, TCP sequence, acknowledgment and flags, the first
 * payload word of UDP, the ICMP echo sequence, the SCTP verification tag.
 * Not ports, addresses, checksums, the ICMP echo id or the TTL. */
static __always_inline void sig_mix(struct packet *p, __u32 w)
{
	p->sig = (p->sig ^ w) * FNV32_PRIME;
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

static __always_inline int is_ipv6_ext(__u8 nh)
{
	return nh == NEXTHDR_HOP || nh == NEXTHDR_ROUTING || nh == NEXTHDR_DEST || nh == NEXTHDR_AUTH ||
	       nh == NEXTHDR_FRAGMENT;
}

static __always_inline int is_icmp_echo(__u8 type)
{
	return type == ICMP_ECHO_ || type == ICMP_ECHOREPLY_ || type == ICMPV6_ECHO_REQUEST_ ||
	       type == ICMPV6_ECHO_REPLY_;
}

/* The header readers below are the one place each header is understood.
 * Every parser calls them, whether it reads the packet in place (parse_direct),
 * through copies made with bpf_skb_load_bytes (parse_frame), or from a copy of
 * the packet made in the kernel's sk_buff (parse_l3_buf), so the flow and the
 * signature come out the same on every path and records made by one pair
 * with the others. */

/* ipv4_fields reads the IPv4 header at ip (IPV4_HLEN readable bytes): the
 * addresses, the protocol and the signature's words. It returns PARSE_OK
 * with *hlen the header's length, PARSE_NO_L4 for a later fragment (no
 * transport header), or PARSE_TRUNCATED when it is not a valid header. */
static __always_inline int ipv4_fields(const __u8 *ip, struct packet *p, __u32 *hlen)
{
	__u32 ihl = (ip[0] & IPV4_IHL_MASK) * 4;
	if ((ip[0] >> 4) != 4 || ihl < IPV4_HLEN)
		return PARSE_TRUNCATED;
	p->key.proto = ip[9];
	set_v4(p->key.saddr, *(const __be32 *)&ip[12]);
	set_v4(p->key.daddr, *(const __be32 *)&ip[16]);
	sig_mix(p, ip[9]);
	sig_mix(p, be32_at(&ip[2])); /* total length, ID */
	sig_mix(p, be16_at(&ip[6])); /* flags, fragment offset */
	*hlen = ihl;
	return (be16_at(&ip[6]) & IPV4_FRAG_OFFSET_MASK) ? PARSE_NO_L4 : PARSE_OK;
}

/* ipv6_fields reads the IPv6 header at ip6 (IPV6_HLEN readable bytes, its
 * version checked by the caller) whose upper-layer protocol is nexthdr,
 * after the extension headers. */
static __always_inline void ipv6_fields(const __u8 *ip6, __u8 nexthdr, struct packet *p)
{
	__builtin_memcpy(p->key.saddr, &ip6[8], 16);
	__builtin_memcpy(p->key.daddr, &ip6[24], 16);
	p->key.proto = nexthdr;
	sig_mix(p, nexthdr);
	sig_mix(p, be32_at(&ip6[0]) & IPV6_FLOW_LABEL_MASK);
	sig_mix(p, be16_at(&ip6[4])); /* payload length */
}

/* l4_fields reads the transport header at l4, of which n bytes belong to
 * the packet (l4 holds L4_READ_BYTES readable bytes; n may be fewer): ports
 * (ICMP type and code), TCP flags and the signature's words. Protocols
 * without ports are flows by address: PARSE_OK. */
static __always_inline int l4_fields(const __u8 *l4, __u32 n, struct packet *p)
{
	switch (p->key.proto) {
	case IPPROTO_TCP:
		if (n < L4_READ_BYTES)
			return PARSE_TRUNCATED;
		p->tcp_flags = l4[TCP_FLAGS_OFF];
		sig_mix(p, be32_at(&l4[4])); /* sequence */
		sig_mix(p, be32_at(&l4[8])); /* acknowledgment */
		sig_mix(p, l4[TCP_FLAGS_OFF]);
		break;
	case IPPROTO_UDP:
		if (n < L4_PORTS_BYTES)
			return PARSE_TRUNCATED;
		/* a payload word, not padding after a shorter datagram */
		if (n >= UDP_HLEN + 4 && be16_at(&l4[4]) >= UDP_HLEN + 4)
			sig_mix(p, be32_at(&l4[8]));
		break;
	case IPPROTO_SCTP_:
		if (n < L4_PORTS_BYTES)
			return PARSE_TRUNCATED;
		if (n >= 12)
			sig_mix(p, be32_at(&l4[4])); /* verification tag */
		break;
	case IPPROTO_ICMP:
	case IPPROTO_ICMPV6_:
		if (n < 2)
			return PARSE_TRUNCATED;
		p->key.sport = l4[0]; /* type */
		p->key.dport = l4[1]; /* code */
		p->l4_ok = 1;
		sig_mix(p, (__u32)l4[0] << 8 | l4[1]);
		/* echo: NAT rewrites the id (bytes 4-5), not the sequence */
		if (is_icmp_echo(l4[0]) && n >= 8)
			sig_mix(p, be16_at(&l4[6]));
		return PARSE_OK;
	default:
		return PARSE_OK;
	}
	p->key.sport = be16_at(&l4[0]);
	p->key.dport = be16_at(&l4[2]);
	p->l4_ok = 1;
	return PARSE_OK;
}

/* parse_ipv6_ext walks IPv6 extension headers from *off, leaving *off at
 * the upper-layer header and *nexthdr naming it. PARSE_OK: that header can
 * be read; PARSE_NO_L4: there is none to read (a later fragment, or more
 * extension headers than we follow); or PARSE_TRUNCATED. */
static __always_inline int parse_ipv6_ext(struct __sk_buff *skb, __u32 *off, __u8 *nexthdr)
{
	__u32 o = *off;
	__u8 nh = *nexthdr;
	int r = PARSE_NO_L4;

#pragma unroll
	for (int i = 0; i < MAX_IPV6_EXT; i++) {
		__u8 h[4] = {};
		__u32 len;

		if (!is_ipv6_ext(nh)) {
			r = PARSE_OK;
			break;
		}
		if (bpf_skb_load_bytes(skb, o, h, 4) < 0)
			return PARSE_TRUNCATED;
		if (nh == NEXTHDR_FRAGMENT) {
			len = IPV6_FRAG_HLEN;
			if ((be16_at(&h[2]) & IPV6_FRAG_OFFSET_MASK) != 0) {
				*nexthdr = h[0];
				return PARSE_NO_L4;
			}
		} else if (nh == NEXTHDR_AUTH) {
			len = ((__u32)h[1] + 2) * 4; /* AH counts 4-byte words, less 2 */
		} else {
			len = ((__u32)h[1] + 1) * 8; /* 8-byte units, less the first */
		}
		nh = h[0];
		o += len;
	}
	*off = o;
	*nexthdr = nh;
	return r;
}

/* parse_frame parses an Ethernet frame starting at off into p. It is a
 * global function so the verifier checks it once, on its own, rather than
 * once per call site and path into it: the probes stay far below the
 * verifier's instruction budget. */
__noinline int parse_frame(struct __sk_buff *skb, __u32 off, struct packet *p)
{
	__be16 proto;
	int r;

	if (!p)
		return PARSE_TRUNCATED;

	if (bpf_skb_load_bytes(skb, off + ETH_PROTO_OFF, &proto, 2) < 0)
		return PARSE_TRUNCATED;
	off += ETH_HLEN;
#pragma unroll
	for (int i = 0; i < MAX_VLAN_TAGS; i++) {
		if (proto != bpf_htons(ETH_P_8021Q_) && proto != bpf_htons(ETH_P_8021AD_))
			break;
		if (bpf_skb_load_bytes(skb, off + VLAN_PROTO_OFF, &proto, 2) < 0)
			return PARSE_TRUNCATED;
		off += VLAN_HLEN;
	}

	if (proto == bpf_htons(ETH_P_IP)) {
		__u8 ip[IPV4_HLEN];
		__u32 hlen = 0;
		if (bpf_skb_load_bytes(skb, off, ip, IPV4_HLEN) < 0)
			return PARSE_TRUNCATED;
		r = ipv4_fields(ip, p, &hlen);
		if (r != PARSE_OK)
			return r == PARSE_NO_L4 ? PARSE_OK : r; /* a later fragment: a flow by address */
		off += hlen;
	} else if (proto == bpf_htons(ETH_P_IPV6)) {
		__u8 ip6[IPV6_HLEN];
		if (bpf_skb_load_bytes(skb, off, ip6, IPV6_HLEN) < 0)
			return PARSE_TRUNCATED;
		if ((ip6[0] >> 4) != 6)
			return PARSE_TRUNCATED;
		__u8 nexthdr = ip6[6];
		off += IPV6_HLEN;
		r = parse_ipv6_ext(skb, &off, &nexthdr);
		ipv6_fields(ip6, nexthdr, p);
		if (r != PARSE_OK)
			return r == PARSE_NO_L4 ? PARSE_OK : r;
	} else {
		return PARSE_NOT_IP;
	}

	__u8 l4[L4_BUF_BYTES] = {};
	__u32 n = skb->len > off ? skb->len - off : 0;
	if (n > L4_READ_BYTES)
		n = L4_READ_BYTES;
	/* a no-op for n in [1, L4_READ_BYTES] that lets the verifier see a
	 * length in [1, L4_BUF_BYTES] (a power of two) */
	if (n > 0 && bpf_skb_load_bytes(skb, off, l4, ((n - 1) & (L4_BUF_BYTES - 1)) + 1) < 0)
		n = 0;
	r = l4_fields(l4, n, p);
	if (r != PARSE_OK)
		return r;

	/* an overlay: remember where its inner frame starts */
	if (p->key.proto != IPPROTO_UDP || !is_overlay_port(p->key.dport))
		return PARSE_OK;
	off += UDP_HLEN;
	if (p->key.dport == GENEVE_PORT) {
		__u8 g[4];
		if (bpf_skb_load_bytes(skb, off, g, 4) < 0)
			return PARSE_OK;
		if (be16_at(&g[2]) != ETH_P_TEB_) /* the inner packet is not an Ethernet frame */
			return PARSE_OK;
		p->inner_off = off + GENEVE_HLEN + (g[0] & GENEVE_OPT_LEN_MASK) * 4;
	} else {
		p->inner_off = off + VXLAN_HLEN;
	}
	return PARSE_OVERLAY;
}

/* parse_direct reads the common packet, Ethernet + IPv4 (no options, not a
 * fragment) or IPv6 (no extension header) + TCP or UDP (not an overlay
 * port), straight from the linear data: no helper calls. Anything else, or
 * headers outside the linear part: PARSE_INDIRECT, for parse_frame. */
static __always_inline int parse_direct(struct __sk_buff *skb, struct packet *p)
{
	void *data = (void *)(long)skb->data;
	void *end = (void *)(long)skb->data_end;
	__u8 *eth = data;
	if ((void *)(eth + ETH_HLEN) > end)
		return PARSE_INDIRECT;
	__be16 proto = *(__be16 *)(eth + ETH_PROTO_OFF);
	__u8 *l4;
	__u8 l4proto;
	if (proto == bpf_htons(ETH_P_IP)) {
		__u8 *ip = eth + ETH_HLEN;
		if ((void *)(ip + IPV4_HLEN + L4_READ_BYTES) > end)
			return PARSE_INDIRECT;
		if (ip[0] != IPV4_NO_OPTIONS || (be16_at(&ip[6]) & (IPV4_MF | IPV4_FRAG_OFFSET_MASK)) != 0)
			return PARSE_INDIRECT;
		l4proto = ip[9];
		l4 = ip + IPV4_HLEN;
		if (l4proto != IPPROTO_TCP && l4proto != IPPROTO_UDP)
			return PARSE_INDIRECT;
		if (l4proto == IPPROTO_UDP && is_overlay_port(be16_at(&l4[2])))
			return PARSE_INDIRECT;
		__u32 hlen;
		ipv4_fields(ip, p, &hlen);
	} else if (proto == bpf_htons(ETH_P_IPV6)) {
		__u8 *ip6 = eth + ETH_HLEN;
		if ((void *)(ip6 + IPV6_HLEN + L4_READ_BYTES) > end)
			return PARSE_INDIRECT;
		if ((ip6[0] >> 4) != 6)
			return PARSE_INDIRECT;
		l4proto = ip6[6];
		l4 = ip6 + IPV6_HLEN;
		if (l4proto != IPPROTO_TCP && l4proto != IPPROTO_UDP)
			return PARSE_INDIRECT;
		if (l4proto == IPPROTO_UDP && is_overlay_port(be16_at(&l4[2])))
			return PARSE_INDIRECT;
		ipv6_fields(ip6, l4proto, p);
	} else {
		return PARSE_INDIRECT;
	}
	return l4_fields(l4, L4_READ_BYTES, p);
}

/* parse_l3_buf parses a packet copied from its network header (n bytes of
 * it at d, a SNAP_LEN buffer), as the programs that see the kernel's
 * sk_buff rather than a TC context read it (the drop probe, the CPU port).
 * PARSE_OK: p holds the flow and the same signature parse_frame finds;
 * PARSE_NO_L4: the addresses only (IPv6 extension headers are not followed
 * here, so there is no signature to pair with); or PARSE_NOT_IP,
 * PARSE_TRUNCATED. */
static __always_inline int parse_l3_buf(const __u8 *d, __u32 n, struct packet *p)
{
	__u32 off = 0;

	if (n < IPV4_HLEN)
		return PARSE_TRUNCATED;
	if ((d[0] >> 4) == 4) {
		int r = ipv4_fields(d, p, &off);
		if (r != PARSE_OK)
			return r == PARSE_NO_L4 ? PARSE_OK : r;
	} else if ((d[0] >> 4) == 6) {
		if (n < IPV6_HLEN)
			return PARSE_TRUNCATED;
		if (is_ipv6_ext(d[6])) {
			__builtin_memcpy(p->key.saddr, &d[8], 16);
			__builtin_memcpy(p->key.daddr, &d[24], 16);
			p->key.proto = d[6];
			return PARSE_NO_L4;
		}
		ipv6_fields(d, d[6], p);
		off = IPV6_HLEN;
	} else {
		return PARSE_NOT_IP;
	}
	/* at most 63, in a way the compiler cannot drop: every read of l4 is at
	 * a constant offset inside the SNAP_LEN buffer; n only says which bytes
	 * belong to this packet */
	asm volatile("" : "+r"(off));
	off &= IPV4_MAX_HLEN_MASK;
	__u32 l4n = n > off ? n - off : 0;
	if (l4n > L4_READ_BYTES)
		l4n = L4_READ_BYTES;
	return l4_fields(d + off, l4n, p) == PARSE_OK ? PARSE_OK : PARSE_NO_L4;
}
_Static_assert(IPV4_MAX_HLEN_MASK + L4_READ_BYTES <= SNAP_LEN, "parse_l3_buf reads inside the SNAP_LEN buffer");

/* parse_packet parses skb from its Ethernet header; for overlay packets it
 * reports the inner flow, and keeps the outer flow when the inner one does
 * not parse (the packet is still observed, by its tunnel). */
static __always_inline int parse_packet(struct __sk_buff *skb, struct packet *p)
{
	if (parse_direct(skb, p) == PARSE_OK)
		return PARSE_OK;
	__builtin_memset(p, 0, sizeof(*p));
	int r = parse_frame(skb, 0, p);
	if (r != PARSE_OVERLAY)
		return r;
	struct packet inner = {};
	__u32 off = p->inner_off;
	if (parse_frame(skb, off, &inner) == PARSE_OK) {
		*p = inner;
		p->frame_off = off;
		p->outer = 1;
	}
	return PARSE_OK;
}
