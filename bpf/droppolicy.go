package bpf

import (
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"

	"github.com/cilium/ebpf"
)

// DropAction is what the drop probe does with a drop of one kernel reason;
// generated from enum drop_action in c/probe.h.
type DropAction uint32

const (
	DropReport    = DropAction(probeDropActionDROP_REPORT)
	DropSkip      = DropAction(probeDropActionDROP_SKIP)
	DropSkipGroup = DropAction(probeDropActionDROP_SKIP_GROUP) // skipped when sent to a multicast or broadcast address
)

// DefaultDropReasons is the drop reason policy in force before any
// --drop-reasons term: kernel frees that are not losses of user traffic.
//
//   - NOT_SPECIFIED to a multicast or broadcast address: IPv6 neighbour and
//     router solicitations and MLD reports to groups nobody on the node
//     joined, which every pod sends as it starts; the kernel frees them
//     without a reason. Unicast NOT_SPECIFIED frees stay reported.
//   - QUEUE_PURGE: a queue emptied as its owner goes away, such as a
//     socket's receive queue at close (a FIN the application never read:
//     the packet was delivered) or a qdisc reset with its device.
//   - TCP_OLD_DATA, TCP_OFOMERGE: a retransmitted copy of data the socket
//     already has; dropping the copy loses nothing.
//
// Names a kernel does not know are skipped (reasons come and go between
// kernels).
var DefaultDropReasons = []string{"-NOT_SPECIFIED@multicast", "-QUEUE_PURGE", "-TCP_OLD_DATA", "-TCP_OFOMERGE"}

const dropReasonPrefix = "SKB_DROP_REASON_"

// DropRule is one term of a drop reason policy.
type DropRule struct {
	Term    string // as given, for messages
	Reset   string // "all", "none" or "default": start over from that policy
	Pattern string // reason name without SKB_DROP_REASON_, upper case; a trailing * matches a prefix
	Action  DropAction
}

var reasonPattern = regexp.MustCompile(`^[A-Z0-9_]*[A-Z0-9]\*?$|^[A-Z0-9_]*\*$`)

// ParseDropReasons checks the terms of a drop reason policy, without the
// kernel: "all" (report every reason), "none" (report none), "default"
// (DefaultDropReasons), "+NAME" or "NAME" (report), "-NAME" (do not
// report), "-NAME@multicast" (do not report when sent to a multicast or
// broadcast address). NAME is a kernel drop reason (enum skb_drop_reason,
// with or without SKB_DROP_REASON_, any case); a trailing * matches every
// reason it begins.
func ParseDropReasons(terms []string) ([]DropRule, error) {
	var rules []DropRule
	for _, term := range terms {
		t := strings.TrimSpace(term)
		switch strings.ToLower(t) {
		case "all", "none", "default":
			rules = append(rules, DropRule{Term: term, Reset: strings.ToLower(t)})
			continue
		case "":
			return nil, fmt.Errorf("drop reason term %q is empty (want e.g. -QUEUE_PURGE, +NOT_SPECIFIED, all)", term)
		}
		r := DropRule{Term: term, Action: DropReport}
		switch t[0] {
		case '-':
			r.Action, t = DropSkip, t[1:]
		case '+':
			t = t[1:]
		}
		if name, qual, ok := strings.Cut(t, "@"); ok {
			if !strings.EqualFold(qual, "multicast") || r.Action != DropSkip {
				return nil, fmt.Errorf("drop reason term %q: the only qualifier is @multicast, on an exclusion (-NAME@multicast)", term)
			}
			r.Action, t = DropSkipGroup, name
		}
		r.Pattern = strings.TrimPrefix(strings.ToUpper(t), dropReasonPrefix)
		if !reasonPattern.MatchString(r.Pattern) {
			return nil, fmt.Errorf("drop reason term %q: %q is not a kernel drop reason name (e.g. -QUEUE_PURGE, +NOT_SPECIFIED, -TCP_*)", term, t)
		}
		rules = append(rules, r)
	}
	return rules, nil
}

// ErrNoKernelDropReasons: the running kernel does not name its drop
// reasons (no BTF, or older than 5.17), so no policy can be resolved.
var ErrNoKernelDropReasons = errors.New("the kernel's drop reasons are unknown")

// DropPolicy holds the action for each kernel drop reason value whose
// drops are not all reported; reasons absent from it are reported.
type DropPolicy map[uint32]DropAction

// ResolveDropPolicy applies DefaultDropReasons, then terms, to the running
// kernel's drop reasons. A name or prefix in terms that matches no reason
// of this kernel is an error; one of the defaults is skipped.
func ResolveDropPolicy(terms []string) (DropPolicy, error) {
	reasons, err := kernelDropReasons()
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrNoKernelDropReasons, err)
	}
	return resolveDropPolicy(terms, reasons)
}

func resolveDropPolicy(terms []string, reasons map[uint32]string) (DropPolicy, error) {
	defaults, err := ParseDropReasons(DefaultDropReasons)
	if err != nil {
		return nil, err
	}
	rules, err := ParseDropReasons(terms)
	if err != nil {
		return nil, err
	}
	names := map[string]uint32{}
	for v, n := range reasons {
		if short, ok := strings.CutPrefix(n, dropReasonPrefix); ok && short != "MAX" && short != "SUBSYS_MASK" {
			names[short] = v
		}
	}
	pol := DropPolicy{}
	apply := func(rules []DropRule, strict bool) error {
		for _, r := range rules {
			switch r.Reset {
			case "all":
				clear(pol)
				continue
			case "none":
				for _, v := range names {
					pol[v] = DropSkip
				}
				continue
			case "default":
				clear(pol)
				for _, d := range defaults {
					applyRule(pol, names, d)
				}
				continue
			}
			if !applyRule(pol, names, r) && strict {
				return fmt.Errorf("drop reason term %q: this kernel has no drop reason %s (names are enum skb_drop_reason's, without SKB_DROP_REASON_)", r.Term, r.Pattern)
			}
		}
		return nil
	}
	if err := apply(defaults, false); err != nil {
		return nil, err
	}
	if err := apply(rules, true); err != nil {
		return nil, err
	}
	return pol, nil
}

// applyRule applies one name or prefix rule; false when it matched nothing.
func applyRule(pol DropPolicy, names map[string]uint32, r DropRule) bool {
	matched := false
	for short, v := range names {
		if !matchReason(r.Pattern, short) {
			continue
		}
		matched = true
		if r.Action == DropReport {
			delete(pol, v)
		} else {
			pol[v] = r.Action
		}
	}
	return matched
}

func matchReason(pattern, name string) bool {
	if p, ok := strings.CutSuffix(pattern, "*"); ok {
		return strings.HasPrefix(name, p)
	}
	return pattern == name
}

// Describe lists the policy's exclusions by name, e.g.
// ["NOT_SPECIFIED@multicast", "QUEUE_PURGE"], for logs.
func (pol DropPolicy) Describe() []string {
	out := []string{}
	for v, a := range pol {
		name := dropReasonShortName(v)
		if a == DropSkipGroup {
			name += "@multicast"
		}
		out = append(out, name)
	}
	slices.Sort(out)
	return out
}

// dropReasonShortName names a kernel reason value without SKB_DROP_REASON_,
// or by its number when the kernel does not name it.
func dropReasonShortName(v uint32) string {
	if n := KernelDropReasonName(v); n != "" {
		return strings.TrimPrefix(n, dropReasonPrefix)
	}
	return fmt.Sprint(v)
}

// SetDropPolicy puts pol in force in the drop probe: a drop whose reason
// pol excludes is counted (DropsExcluded) but raises no event. Reasons
// beyond the policy map (subsystem reasons) are always reported.
func (p *Collection) SetDropPolicy(pol DropPolicy) error {
	m := p.drop.DropPolicy
	n := m.MaxEntries()
	for v := range pol {
		if v >= n {
			return fmt.Errorf("drop reason %s (%d): the probe's policy covers reasons below %d", dropReasonShortName(v), v, n)
		}
	}
	keys := make([]uint32, n)
	vals := make([]uint32, n)
	for i := range keys {
		keys[i] = uint32(i)
		vals[i] = uint32(pol[uint32(i)])
	}
	if _, err := m.BatchUpdate(keys, vals, nil); err != nil {
		if !errors.Is(err, ebpf.ErrNotSupported) {
			return fmt.Errorf("write drop reason policy: %w", err)
		}
		for i := range keys {
			if err := m.Put(keys[i], vals[i]); err != nil {
				return fmt.Errorf("write drop reason policy: %w", err)
			}
		}
	}
	return nil
}

// DropsExcluded counts, per kernel reason name (without SKB_DROP_REASON_),
// the drops of probed ports the policy kept from being reported; reasons
// with none are left out.
func (p *Collection) DropsExcluded() (map[string]uint64, error) {
	out := map[string]uint64{}
	var (
		key uint32
		per []uint64
	)
	it := p.drop.DropsExcluded.Iterate()
	for it.Next(&key, &per) {
		var sum uint64
		for _, v := range per {
			sum += v
		}
		if sum > 0 {
			out[dropReasonShortName(key)] += sum
		}
	}
	if err := it.Err(); err != nil {
		return nil, fmt.Errorf("read excluded drop counters: %w", err)
	}
	return out, nil
}
