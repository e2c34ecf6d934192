/* The pod-side probe: TCX ingress and egress of the pod's own interface
 * (eth0), inside the pod's network namespace, attached by the CNI plugin
 * next to the host veth's probes.
 *
 * eBPF datapaths (Cilium's BPF host routing and the like) move a packet into
 * a pod with bpf_redirect_peer, from the ingress of another veth or of the
 * uplink straight into the pod's interface: the host veth's egress hook,
 * where podint's egress probe waits, never runs. The sk_buff is the same
 * object all the way, so the ingress record the packet left is still in
 * flight here, and the packet is reported from here, leaving the node
 * through the pod's host veth: the port it would have crossed.
 *
 * A packet that took the ordinary path was paired at the host veth's egress,
 * which freed its in-flight slot: this probe finds nothing and stays quiet,
 * so no packet is reported twice. It reports only packets it finds a record
 * of; one that entered without an ingress probe is not the node's to report
 * here (the host veth's egress probe would have reported it without hop
 * latency, but it was bypassed: see docs/cni-support.md). */
#pragma once

#include "maps.h"
#include "kernel.h"

/* A pod's interface, as the kernel names it: its network namespace (ns.inum)
 * and its ifindex there. */
struct pod_port_key {
	__u64 netns_ino;
	__u32 ifindex;
	__u32 pad;
};

/* The host veth (the node's port, its ifindex in the node's namespace) of
 * each probed pod interface; written by the plugin at ADD, removed at DEL. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, PORT_ENTRIES);
	__type(key, struct pod_port_key);
	__type(value, __u32);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} pod_ports SEC(".maps");

/* pod_host_port: the host veth of the pod interface a packet is on, or 0. */
static __always_inline __u32 pod_host_port(struct __sk_buff *skb)
{
	struct sk_buff *kskb = bpf_cast_to_kern_ctx(skb);
	struct net_device *dev = kskb->dev;
	if (!dev)
		return 0;
	struct pod_port_key k = {
		.netns_ino = dev->nd_net.net->ns.inum,
		.ifindex = skb->ifindex,
	};
	__u32 *host = bpf_map_lookup_elem(&pod_ports, &k);
	return host ? *host : 0;
}

static __always_inline void probe_pod_ingress(struct __sk_buff *skb)
{
	/* The common case, a packet the host veth's egress already paired,
	 * costs one array lookup: no parsing before a record is found. */
	if (!inflight_find(skb_id(skb)))
		return;
	__u32 host = pod_host_port(skb);
	if (!host) {
		count(COUNTER_POD_PORT_UNKNOWN);
		return;
	}
	if (probe_egress_port(skb, host, 1))
		count(COUNTER_POD_SIDE);
}

/* probe_pod_egress records a packet the pod sends as entering the node
 * through the pod's host veth, before it gets there: a CNI program ahead of
 * podint on the host veth's ingress (attachPosition last) may redirect it
 * away unseen. When the host veth's ingress probe does see the packet, it
 * records it again, with the exact time. */
static __always_inline void probe_pod_egress(struct __sk_buff *skb)
{
	__u32 host = pod_host_port(skb);
	if (!host) {
		count(COUNTER_POD_PORT_UNKNOWN);
		return;
	}
	probe_ingress_port(skb, host);
}

SEC("tcx/ingress")
int podint_pod_ingress(struct __sk_buff *skb)
{
	probe_pod_ingress(skb);
	return TC_ACT_UNSPEC_;
}

SEC("tcx/egress")
int podint_pod_egress(struct __sk_buff *skb)
{
	probe_pod_egress(skb);
	return TC_ACT_UNSPEC_;
}
