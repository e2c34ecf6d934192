// Package reportseq owns the sequence accounting of INT report sources:
// from the sequence numbers of what one sender sent, how many reports (or
// datagrams) were lost, arrived late, or show that the sender restarted.
// podintctl collect and podint-collector share it, so both count loss the
// same way.
package reportseq

// ReorderWindow is how far behind the expected sequence number a datagram
// may arrive and count as late rather than as a sender restart.
const ReorderWindow = 1024

// Counter is one sender's sequence accounting. The zero value is ready:
// the first number it observes starts it, since nothing is known of what
// came before.
type Counter struct {
	Datagrams uint64
	// Lost counts sequence numbers skipped: reports for v0.5, datagrams
	// for v2.0 (whose sequence numbers count datagrams). Late arrivals
	// that were counted lost are taken back.
	Lost      uint64
	Reordered uint64 // datagrams that arrived after a later one
	Restarts  uint64 // jumps back too far to be late: the sender started over
	LastSeq   uint32
	started   bool
}

// Outcome says what one observed sequence number meant.
type Outcome uint8

const (
	InOrder Outcome = iota // the first, or the one expected
	Gap                    // ahead of the expected one: the ones between are lost
	Late                   // behind, within the reorder window
	Restart                // far behind: the sender started over
)

// Observe accounts for sequence number seq, modulo mask+1 (the format's
// largest number, see intreport.Format.SeqMask), and returns what it
// meant and how many numbers it newly counted lost (Gap only).
func (c *Counter) Observe(seq, mask uint32) (Outcome, uint64) {
	c.Datagrams++
	if !c.started {
		c.started, c.LastSeq = true, seq
		return InOrder, 0
	}
	expected := (c.LastSeq + 1) & mask
	ahead := (seq - expected) & mask
	behind := (expected - seq) & mask
	switch {
	case ahead == 0:
		c.LastSeq = seq
		return InOrder, 0
	case ahead <= mask/2:
		c.Lost += uint64(ahead)
		c.LastSeq = seq
		return Gap, uint64(ahead)
	case behind <= ReorderWindow:
		c.Reordered++
		if c.Lost > 0 {
			c.Lost-- // it was counted lost when a later one overtook it
		}
		return Late, 0
	default:
		c.Restarts++
		c.LastSeq = seq
		return Restart, 0
	}
}
