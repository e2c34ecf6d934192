package exporter

import (
	"slices"
	"testing"
)

// runs returns the datagrams per message pack builds for datagrams of
// these sizes.
func runs(sizes []int, from int, gso bool) (segs []int, withCmsg []bool) {
	o := newOutbox(0)
	for _, n := range sizes {
		o.add(make([]byte, n), 1)
	}
	o.pack(from, gso)
	for m := range o.msgs {
		segs = append(segs, o.segments(m))
		withCmsg = append(withCmsg, o.msgs[m].OOB != nil)
		if got, want := len(o.msgs[m].Buffers[0]), sum(sizes[o.first[m]:o.first[m+1]]); got != want {
			panic("message bytes do not match its datagrams")
		}
	}
	return segs, withCmsg
}

func sum(s []int) (n int) {
	for _, v := range s {
		n += v
	}
	return n
}

func repeat(n, size int) []int { return slices.Repeat([]int{size}, n) }

func TestPackGroupsEqualSizedRuns(t *testing.T) {
	for _, tc := range []struct {
		name  string
		sizes []int
		from  int
		gso   bool
		want  []int
	}{
		{"without GSO one datagram per message", []int{10, 10, 10}, 0, false, []int{1, 1, 1}},
		{"a run", []int{10, 10, 10}, 0, true, []int{3}},
		{"a shorter one ends a run", []int{10, 10, 7, 10}, 0, true, []int{3, 1}},
		{"a longer one starts a new run", []int{10, 10, 12, 12}, 0, true, []int{2, 2}},
		{"two shorter ones: only the first joins", []int{10, 10, 7, 7}, 0, true, []int{3, 1}},
		{"a lone datagram", []int{10}, 0, true, []int{1}},
		{"at most 64 segments", repeat(130, 10), 0, true, []int{64, 64, 2}},
		{"a shorter one after 64 starts the next", append(repeat(64, 10), 7), 0, true, []int{64, 1}},
		{"at most 64 KiB", repeat(50, 1400), 0, true, []int{maxGSOBytes / 1400, 50 - maxGSOBytes/1400}},
		{"repacked from a datagram on", []int{10, 10, 10, 10}, 2, true, []int{2}},
		{"repacked without GSO", []int{10, 10, 10, 10}, 1, false, []int{1, 1, 1}},
		{"nothing", nil, 0, true, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			segs, cmsg := runs(tc.sizes, tc.from, tc.gso)
			if !slices.Equal(segs, tc.want) {
				t.Fatalf("segments per message %v, want %v", segs, tc.want)
			}
			for m, c := range cmsg {
				if c != (segs[m] > 1) {
					t.Fatalf("message %d of %d datagrams: UDP_SEGMENT %v", m, segs[m], c)
				}
			}
		})
	}
}
