package exporter

import (
	"time"

	"github.com/podint/podint/internal/intreport"
)

// gather waits for a batch that is not full to fill, at most for the
// timer's time: a send carrying many datagrams (one GSO send, one
// sendmmsg) costs the kernel little more than one carrying a single
// datagram, and reports trickling in one by one as the reader wakes for
// each would otherwise be sent one by one. The timer's channel is the
// sender's; Close does not wait for it.
func (c *collector) gather(batch []*intreport.Report, timer *time.Timer) []*intreport.Report {
	timer.Reset(lingerDelay)
	select {
	case <-timer.C:
	case <-c.nudge:
		timer.Stop()
	case <-c.stop:
		timer.Stop()
	}
	return c.take(batch)
}

// nudgeSender ends the sender's wait for a fuller batch: one is queued,
// or the queue is full. A nudge while it does not wait shortens its next
// wait, which is harmless.
func (c *collector) nudgeSender() {
	select {
	case c.nudge <- struct{}{}:
	default:
	}
}

// take adds to batch what is queued already, without waiting for more.
func (c *collector) take(batch []*intreport.Report) []*intreport.Report {
	for len(batch) < maxBatch {
		select {
		case r := <-c.queue:
			batch = append(batch, r)
		default:
			return batch
		}
	}
	return batch
}
