/* The signature of a packet read from its network header, for the
 * programs that see the kernel's sk_buff rather than a TC context (the
 * drop probe, the CPU port's netfilter programs): they must find the same
 * signature as the TC parser to pair with its in-flight records. */
#pragma once

#include "parse.h"

/* l3_sig computes the signature of a packet copied from its network header
 * into p->sig (and its TCP flags), mixed from the same fields in the same
 * order as parse_frame, so a record made by one pairs with the other. It
 * returns 0 when p holds the signature. */
static __always_inline int l3_sig(const __u8 *d, __u32 n, struct packet *p)
{
	__u32 off;
	__u8 proto;

	if (n < 20)
		return -1;
	if ((d[0] >> 4) == 4) {
		proto = d[9];
		sig_mix(p, proto);
		sig_mix(p, be32_at(&d[2]));
		sig_mix(p, be16_at(&d[6]));
		if ((be16_at(&d[6]) & 0x1fff) != 0)
			return 0;
		off = (d[0] & 0x0f) * 4;
	} else if ((d[0] >> 4) == 6 && n >= 40) {
		proto = d[6];
		if (proto == NEXTHDR_HOP || proto == NEXTHDR_ROUTING || proto == NEXTHDR_DEST ||
		    proto == NEXTHDR_AUTH || proto == NEXTHDR_FRAGMENT)
			return -1; /* extension headers: not followed here */
		sig_mix(p, proto);
		sig_mix(p, be32_at(&d[0]) & 0xfffff);
		sig_mix(p, be16_at(&d[4]));
		off = 40;
	} else {
		return -1;
	}
	/* at most 63, in a way the compiler cannot drop: every read below is
	 * at a constant offset from l4, inside the SNAP_LEN buffer; n only says
	 * which bytes belong to this packet */
	asm volatile("" : "+r"(off));
	off &= 0x3f;
	const __u8 *l4 = d + off;
	switch (proto) {
	case IPPROTO_TCP:
		if (off + 14 > n)
			return -1;
		p->tcp_flags = l4[13];
		sig_mix(p, be32_at(&l4[4]));
		sig_mix(p, be32_at(&l4[8]));
		sig_mix(p, l4[13]);
		break;
	case IPPROTO_UDP:
		if (off + 12 <= n && be16_at(&l4[4]) >= 12)
			sig_mix(p, be32_at(&l4[8]));
		break;
	case IPPROTO_SCTP_:
		if (off + 12 <= n)
			sig_mix(p, be32_at(&l4[4]));
		break;
	case IPPROTO_ICMP:
	case IPPROTO_ICMPV6_:
		if (off + 2 > n)
			return -1;
		sig_mix(p, (__u32)l4[0] << 8 | l4[1]);
		if ((l4[0] == 8 || l4[0] == 0 || l4[0] == 128 || l4[0] == 129) && off + 8 <= n)
			sig_mix(p, be16_at(&l4[6]));
		break;
	}
	return 0;
}

