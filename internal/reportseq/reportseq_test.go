package reportseq

import "testing"

func TestObserve(t *testing.T) {
	const v20 = 1<<22 - 1
	for _, tc := range []struct {
		name                     string
		mask                     uint32
		seqs                     []uint32
		lost, reordered, restart uint64
	}{
		{"in order", ^uint32(0), []uint32{5, 6, 7}, 0, 0, 0},
		{"gap", ^uint32(0), []uint32{5, 9}, 3, 0, 0},
		{"late arrival takes its loss back", ^uint32(0), []uint32{5, 7, 6}, 0, 1, 0},
		{"wrap of the v2.0 22-bit field is no loss", v20, []uint32{v20 - 1, v20, 0, 1}, 0, 0, 0},
		{"restart far behind", ^uint32(0), []uint32{5000, 5001, 1, 2}, 0, 0, 1},
	} {
		var c Counter
		for _, s := range tc.seqs {
			c.Observe(s, tc.mask)
		}
		if c.Lost != tc.lost || c.Reordered != tc.reordered || c.Restarts != tc.restart || c.Datagrams != uint64(len(tc.seqs)) {
			t.Errorf("%s: %+v, want lost %d reordered %d restarts %d", tc.name, c, tc.lost, tc.reordered, tc.restart)
		}
	}
}
