/* The on-wire layout of the headers the probes parse: lengths, offsets,
 * masks and the numbers protocols assign. parse.h reads packets with them.
 * The overlay ports are also Go constants (internal/intreport/packet.go),
 * held to these by bpf/facts_test.go. */
#pragma once

#define ETH_P_8021Q_ 0x8100
#define ETH_P_8021AD_ 0x88A8
#define ETH_P_TEB_ 0x6558      /* Transparent Ethernet Bridging: Geneve's inner Ethernet frame */
#define ETH_PROTO_OFF 12       /* the EtherType, after the two MAC addresses */
#define VLAN_HLEN 4
#define VLAN_PROTO_OFF 2       /* the inner EtherType, after the tag's TCI */
#define MAX_VLAN_TAGS 2

#define IPV4_HLEN 20           /* without options */
#define IPV4_NO_OPTIONS 0x45   /* version 4, header length 5 words */
#define IPV4_IHL_MASK 0x0f
#define IPV4_MF 0x2000         /* more fragments */
#define IPV4_FRAG_OFFSET_MASK 0x1fff
#define IPV4_MAX_HLEN_MASK 0x3f /* 63: bounds a header length (at most 60) for the verifier */
#define IPV6_HLEN 40
#define IPV6_FLOW_LABEL_MASK 0xfffff
#define IPV6_FRAG_OFFSET_MASK 0xfff8 /* of the fragment header's bytes 2..3 */
#define IPV6_FRAG_HLEN 8
#define MAX_IPV6_EXT 6

#define IPPROTO_ICMPV6_ 58
#define IPPROTO_SCTP_ 132
#define NEXTHDR_HOP 0
#define NEXTHDR_ROUTING 43
#define NEXTHDR_FRAGMENT 44
#define NEXTHDR_AUTH 51
#define NEXTHDR_DEST 60

#define ICMP_ECHOREPLY_ 0
#define ICMP_ECHO_ 8
#define ICMPV6_ECHO_REQUEST_ 128
#define ICMPV6_ECHO_REPLY_ 129

#define UDP_HLEN 8
#define TCP_FLAGS_OFF 13
#define TCP_FLAG_FIN 0x01
#define TCP_FLAG_RST 0x04
#define L4_PORTS_BYTES 4       /* source and destination port */
/* What the parsers read of a transport header: TCP through its flags; the
 * UDP header and its first payload word; SCTP's ports and verification
 * tag; ICMP's type, code and echo id and sequence. */
#define L4_READ_BYTES 14
#define L4_BUF_BYTES 16        /* L4_READ_BYTES rounded up to a power of two */

#define VXLAN_PORT 4789
#define VXLAN_LINUX_PORT 8472
#define GENEVE_PORT 6081
#define VXLAN_HLEN 8
#define GENEVE_HLEN 8
#define GENEVE_OPT_LEN_MASK 0x3f /* options length, in 4-byte words */

