/* The few kernel types the drop probe and nat.h read, declared with
 * preserve_access_index so CO-RE relocates every field access against the
 * running kernel's BTF: no vmlinux.h, no dependence on one kernel's layout. */
#pragma once

#include <linux/types.h>

struct ns_common {
	unsigned int inum;
} __attribute__((preserve_access_index));

struct net {
	struct ns_common ns;
} __attribute__((preserve_access_index));

typedef struct {
	struct net *net;
} possible_net_t;

struct net_device {
	int ifindex;
	possible_net_t nd_net;
} __attribute__((preserve_access_index));

struct sock_common {
	possible_net_t skc_net;
} __attribute__((preserve_access_index));

struct sock {
	struct sock_common __sk_common;
} __attribute__((preserve_access_index));

struct sk_buff {
	struct net_device *dev;
	int skb_iif;
	unsigned int len;
	__u16 network_header;
	unsigned int tail;
	unsigned char *head;
	struct sock *sk;
	unsigned long _nfct; /* conntrack entry | ctinfo (low 3 bits) */
} __attribute__((preserve_access_index));

/* A conntrack tuple: its layout has not changed since conntrack was
 * written (40 bytes), so nat.h copies it whole. */
struct nf_conntrack_tuple {
	struct {
		__u8 u3[16];  /* union nf_inet_addr */
		__be16 u;     /* port, or ICMP id */
		__u16 l3num;  /* AF_INET, AF_INET6 */
	} src;
	struct {
		__u8 u3[16];
		__u8 u[2];    /* port, or ICMP type and code */
		__u8 protonum;
		__u8 dir;
	} dst;
};

struct nf_conntrack_tuple_hash {
	struct nf_conntrack_tuple tuple;
} __attribute__((preserve_access_index));

struct nf_conn {
	struct nf_conntrack_tuple_hash tuplehash[2]; /* original, reply */
} __attribute__((preserve_access_index));
