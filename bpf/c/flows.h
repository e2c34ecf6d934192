/* The report filter's flow table: 4-way set-associative, in two array maps.
 *
 * A new flow used to cost an LRU hash map update: a lookup that misses
 * (the bucket and its chain, cold in a table of 17 MB), a node taken from
 * the LRU lists under their locks, and once the table is full an eviction
 * that walks the lists and the evicted flows' buckets: 1-2 µs of cache and
 * TLB misses (perf, docs/performance.md). Here a flow's place is one of the
 * FLOW_WAYS ways of a set chosen by a hash of its key. The sets' tags and
 * ages are a compact map of their own (1 MiB: it stays in the caches and
 * the TLB), so finding a flow, or finding that it is new and choosing the
 * way it takes, reads one line of it; only a flow that is found, or the
 * new flow's stores, touch the large map of entries. The way given up is
 * the one reported longest ago; a flow pushed out early only reports again
 * as new (counted: kernel_flows_evicted), as a flow the LRU evicted did. */
#pragma once

#include "maps.h"

#define FLOW_WAYS 4
#define FLOW_SET_BITS 15
#define FLOW_SETS (1 << FLOW_SET_BITS)
#define FLOW_AGE_SHIFT 20 /* ages in units of 2^20 ns (about 1 ms) */
_Static_assert(FLOW_SETS * FLOW_WAYS == FLOW_ENTRIES, "the flow table holds FLOW_ENTRIES flows");

/* One set's ways, a word each: the tag, a hash of the way's key (never 0;
 * 0: the way is empty), in the high half, and in the low half the way's
 * age, the time of its last report in FLOW_AGE_SHIFT units (it wraps in
 * 52 days: an older way may then look younger, which costs at most a
 * poorer choice of the way to give up). One word, so that a compare-and-
 * swap claims a way. */
struct flow_set {
	__u64 way[FLOW_WAYS];
};

static __always_inline __u32 way_tag(__u64 w)
{
	return (__u32)(w >> 32);
}

static __always_inline __u64 way_word(__u32 tag, __u64 now)
{
	return (__u64)tag << 32 | (__u32)(now >> FLOW_AGE_SHIFT);
}

struct flow_entry {
	struct flow_key key;
	struct flow_state st;
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, FLOW_SETS);
	__type(key, __u32);
	__type(value, struct flow_set);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} flow_sets SEC(".maps");

/* Entry (set * FLOW_WAYS + way). */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, FLOW_ENTRIES);
	__type(key, __u32);
	__type(value, struct flow_entry);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} flow_entries SEC(".maps");

#define FLOW_KEY_WORDS (sizeof(struct flow_key) / 8)
_Static_assert(sizeof(struct flow_key) % 8 == 0, "flow keys are hashed and compared by 64-bit words");

/* A flow's place: its set, and its tag there. */
struct flow_ref {
	struct flow_set *set;
	__u32 set_idx;
	__u32 tag;
	__u32 way;
};

/* flow_hash hashes a flow key (multiply-xorshift over its words): the top
 * FLOW_SET_BITS bits choose the set, the low 32 bits are the tag. */
static __always_inline __u64 flow_hash(const struct flow_key *k)
{
	const __u64 *w = (const __u64 *)k;
	__u64 h = 0;
#pragma unroll
	for (int i = 0; i < FLOW_KEY_WORDS; i++) {
		h = (h ^ w[i]) * GOLDEN_RATIO_64;
		h ^= h >> 29;
	}
	return h;
}

static __always_inline int flow_key_eq(const struct flow_key *a, const struct flow_key *b)
{
	const __u64 *x = (const __u64 *)a, *y = (const __u64 *)b;
	__u64 d = 0;
#pragma unroll
	for (int i = 0; i < FLOW_KEY_WORDS; i++)
		d |= x[i] ^ y[i];
	return d == 0;
}

static __always_inline struct flow_entry *flow_entry_at(__u32 set_idx, __u32 way)
{
	__u32 idx = set_idx * FLOW_WAYS + (way & (FLOW_WAYS - 1));
	return bpf_map_lookup_elem(&flow_entries, &idx);
}

/* flow_find looks flow k up: it returns its state, or NULL with r
 * describing its set for flow_insert; r->set is NULL when the table cannot
 * be read (then the flow is neither found nor stored). */
static __always_inline struct flow_state *flow_find(const struct flow_key *k, struct flow_ref *r)
{
	__u64 h = flow_hash(k);
	r->set_idx = (__u32)(h >> (64 - FLOW_SET_BITS));
	r->tag = (__u32)h | 1;
	r->set = bpf_map_lookup_elem(&flow_sets, &r->set_idx);
	if (!r->set)
		return 0;
#pragma unroll
	for (int i = 0; i < FLOW_WAYS; i++) {
		if (way_tag(r->set->way[i]) != r->tag)
			continue;
		struct flow_entry *e = flow_entry_at(r->set_idx, i);
		if (e && flow_key_eq(&e->key, k)) {
			r->way = i;
			return &e->st;
		}
	}
	return 0;
}

/* flow_touch records that the flow at r was reported at now, unless
 * another flow took its way meanwhile. */
static __always_inline void flow_touch(struct flow_ref *r, __u64 now)
{
	if (!r->set)
		return;
	__u64 *w = &r->set->way[r->way & (FLOW_WAYS - 1)];
	__u64 old = *w;
	if (way_tag(old) == r->tag)
		__sync_val_compare_and_swap(w, old, way_word(r->tag, now));
}

/* flow_insert stores new flow k in the way of its set reported longest ago
 * (an empty way first). Two CPUs choosing the same way: one claims it (the
 * compare-and-swap), the other's flow is not stored and reports as new
 * again with its next packet. */
static __always_inline void flow_insert(struct flow_ref *r, const struct flow_key *k, const struct flow_state *st,
					__u64 now)
{
	struct flow_set *s = r->set;
	if (!s)
		return;
	__u32 nowage = (__u32)(now >> FLOW_AGE_SHIFT);
	__u32 victim = 0, oldest = 0;
#pragma unroll
	for (int i = 0; i < FLOW_WAYS; i++) {
		__u64 w = s->way[i];
		__u32 since = way_tag(w) ? nowage - (__u32)w : ~0U;
		if (since >= oldest) {
			oldest = since;
			victim = i;
		}
	}
	victim &= FLOW_WAYS - 1;
	__u64 old = s->way[victim];
	if (__sync_val_compare_and_swap(&s->way[victim], old, way_word(r->tag, now)) != old)
		return;
	if (way_tag(old))
		count(COUNTER_FLOWS_EVICTED);
	struct flow_entry *e = flow_entry_at(r->set_idx, victim);
	if (!e)
		return;
	e->key = *k;
	e->st = *st;
}
