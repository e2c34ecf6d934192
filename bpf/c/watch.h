/* The watchlist: which flows are reported. Rules are compiled by the
 * daemon into the "watchlist" map; a flow's verdict is cached in its flow
 * state and recomputed when the watchlist generation changes. */
#pragma once

#include "maps.h"

static __always_inline int addr_match(const __u8 *addr, const __u8 *want, const __u8 *mask)
{
	const __u64 *a = (const __u64 *)addr, *w = (const __u64 *)want, *m = (const __u64 *)mask;
	return (a[0] & m[0]) == w[0] && (a[1] & m[1]) == w[1];
}

static __always_inline int rule_match(const struct watch_rule *r, const struct flow_key *k)
{
	if (r->proto && r->proto != k->proto)
		return 0;
	if (k->sport < r->sport_lo || k->sport > r->sport_hi || k->dport < r->dport_lo || k->dport > r->dport_hi)
		return 0;
	return addr_match(k->saddr, r->src, r->src_mask) && addr_match(k->daddr, r->dst, r->dst_mask);
}

struct watch_ctx {
	const struct flow_key *key;
	__u32 rules;
	int matched;
};

static long watch_step(__u32 i, void *data)
{
	struct watch_ctx *c = data;
	if (i >= c->rules)
		return 1;
	struct watch_rule *r = bpf_map_lookup_elem(&watchlist, &i);
	if (!r)
		return 1;
	if (rule_match(r, c->key)) {
		c->matched = 1;
		return 1;
	}
	return 0;
}

/* flow_watched evaluates the watchlist for k (bpf_loop keeps the verifier's
 * work independent of the number of rules). */
static __always_inline int flow_watched(const struct flow_key *k, const struct settings *cfg)
{
	__u32 n = cfg->watch_rules;
	if (n == 0)
		return 1;
	struct watch_ctx c = {.key = k, .rules = n, .matched = 0};
	bpf_loop(MAX_WATCH_RULES, watch_step, &c, 0);
	return c.matched;
}
