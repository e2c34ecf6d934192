/* The few kernel types the drop probe reads, declared with
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
} __attribute__((preserve_access_index));
