package bpf

import (
	"slices"
	"strings"
	"testing"
)

// A kernel's reasons, as its BTF names them (values made up).
var testReasons = map[uint32]string{
	0: "SKB_NOT_DROPPED_YET", 1: "SKB_CONSUMED", 2: "SKB_DROP_REASON_NOT_SPECIFIED",
	3: "SKB_DROP_REASON_NO_SOCKET", 12: "SKB_DROP_REASON_NETFILTER_DROP",
	33: "SKB_DROP_REASON_TCP_OLD_DATA", 35: "SKB_DROP_REASON_TCP_OFOMERGE", 47: "SKB_DROP_REASON_TCP_CLOSE",
	104: "SKB_DROP_REASON_QUEUE_PURGE", 129: "SKB_DROP_REASON_MAX", 0xffff0000: "SKB_DROP_REASON_SUBSYS_MASK",
}

func TestDropPolicyAppliesTermsInOrderOverTheDefault(t *testing.T) {
	for _, tc := range []struct {
		terms []string
		want  string // Describe, joined
	}{
		{nil, "NOT_SPECIFIED@multicast QUEUE_PURGE TCP_OFOMERGE TCP_OLD_DATA"},
		{[]string{"all"}, ""},
		{[]string{"+QUEUE_PURGE"}, "NOT_SPECIFIED@multicast TCP_OFOMERGE TCP_OLD_DATA"},
		{[]string{"-tcp_*"}, "NOT_SPECIFIED@multicast QUEUE_PURGE TCP_CLOSE TCP_OFOMERGE TCP_OLD_DATA"},
		{[]string{"-TCP_*", "+SKB_DROP_REASON_TCP_CLOSE"}, "NOT_SPECIFIED@multicast QUEUE_PURGE TCP_OFOMERGE TCP_OLD_DATA"},
		{[]string{"+NOT_SPECIFIED"}, "QUEUE_PURGE TCP_OFOMERGE TCP_OLD_DATA"},
		{[]string{"-NOT_SPECIFIED"}, "NOT_SPECIFIED QUEUE_PURGE TCP_OFOMERGE TCP_OLD_DATA"},
		{[]string{"all", "-NO_SOCKET@multicast"}, "NO_SOCKET@multicast"},
		{[]string{"none", "+NETFILTER_DROP"}, "NOT_SPECIFIED NO_SOCKET QUEUE_PURGE TCP_CLOSE TCP_OFOMERGE TCP_OLD_DATA"},
		{[]string{"all", "default"}, "NOT_SPECIFIED@multicast QUEUE_PURGE TCP_OFOMERGE TCP_OLD_DATA"},
	} {
		pol, err := resolveDropPolicy(tc.terms, testReasons)
		if err != nil {
			t.Errorf("%q: %v", tc.terms, err)
			continue
		}
		var got []string
		for v, a := range pol {
			name := strings.TrimPrefix(testReasons[v], dropReasonPrefix)
			if a == DropSkipGroup {
				name += "@multicast"
			}
			got = append(got, name)
		}
		slices.Sort(got)
		if g := strings.Join(got, " "); g != tc.want {
			t.Errorf("%q: excludes %q, want %q", tc.terms, g, tc.want)
		}
		if _, ok := pol[1]; ok {
			t.Errorf("%q: SKB_CONSUMED is not a drop reason, yet the policy has it", tc.terms)
		}
	}
}

// A name this kernel lacks is an error when the user gives it (a typo
// must not go unnoticed), and skipped among the defaults (reasons come and
// go between kernels).
func TestDropPolicyRefusesAReasonTheKernelLacks(t *testing.T) {
	_, err := resolveDropPolicy([]string{"-QUEUE_PURGED"}, testReasons)
	if err == nil || !strings.Contains(err.Error(), `"-QUEUE_PURGED"`) || !strings.Contains(err.Error(), "no drop reason QUEUE_PURGED") {
		t.Errorf("error %v, want one naming the term", err)
	}
	if _, err := resolveDropPolicy([]string{"-XFRM_*"}, testReasons); err == nil {
		t.Error("a prefix matching nothing was accepted")
	}
	old := map[uint32]string{2: "SKB_DROP_REASON_NOT_SPECIFIED", 3: "SKB_DROP_REASON_NO_SOCKET"}
	pol, err := resolveDropPolicy(nil, old)
	if err != nil || len(pol) != 1 || pol[2] != DropSkipGroup {
		t.Errorf("defaults on a kernel without QUEUE_PURGE: %v, %v", pol, err)
	}
}
