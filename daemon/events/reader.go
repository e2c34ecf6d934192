package events

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"runtime"
	"sync/atomic"
	"time"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/ringbuf"

	"github.com/podint/podint/bpf"
)

// PollInterval is how long an event may wait in the ring buffer before the
// reader looks: the probes write events without waking the reader (a
// wakeup costs the packet's CPU an interrupt, about 5 µs), and wake it only
// when 64 KiB are unread (c/maps.h, RINGBUF_WAKEUP_BYTES), so a lone event
// reaches the exporter within PollInterval and a burst costs one wakeup.
const PollInterval = 5 * time.Millisecond

// Sink receives decoded events. It must not block for long: the ring buffer
// fills while it does, and the probes count what they cannot write. The
// event is valid only during the call (it is read in place, in the
// reader's buffer): copy what is kept.
type Sink func(*bpf.Event)

// Reader drains the probes' ring buffer into a Sink.
type Reader struct {
	rd  *ringbuf.Reader
	log *slog.Logger

	received  atomic.Uint64
	malformed atomic.Uint64
	scratch   bpf.Event // a record shorter than struct event, decoded
}

// NewReader opens a reader on the ring buffer map.
func NewReader(events *ebpf.Map, log *slog.Logger) (*Reader, error) {
	rd, err := ringbuf.NewReader(events)
	if err != nil {
		return nil, fmt.Errorf("open ring buffer reader: %w", err)
	}
	return &Reader{rd: rd, log: log}, nil
}

// Run delivers events to sink until ctx ends or Close is called. Records
// already in the ring buffer when Run starts (written while the daemon was
// down) are delivered first.
func (r *Reader) Run(ctx context.Context, sink Sink) error {
	stop := context.AfterFunc(ctx, func() { r.rd.Close() })
	defer stop()
	var rec ringbuf.Record
	r.rd.SetDeadline(time.Now().Add(PollInterval))
	for {
		if err := r.rd.ReadInto(&rec); err != nil {
			if errors.Is(err, os.ErrDeadlineExceeded) {
				// The ring is drained: look again in PollInterval, or
				// when the probes wake us.
				r.rd.SetDeadline(time.Now().Add(PollInterval))
				continue
			}
			if errors.Is(err, ringbuf.ErrClosed) || errors.Is(err, os.ErrClosed) {
				return nil
			}
			return fmt.Errorf("read ring buffer: %w", err)
		}
		r.deliver(&rec, sink)
		if rec.Remaining == 0 {
			// Drained: let what the sink fed (the exporter's senders) run
			// before this goroutine blocks in epoll_wait. That is a
			// blocking system call, not Go's poller: with one P
			// (GOMAXPROCS=1) it keeps the senders off the CPU until the
			// runtime's monitor takes the P back (20 µs to 10 ms later,
			// and a thread switch), while the ring buffer fills.
			runtime.Gosched()
		}
	}
}

// deliver decodes one record for sink.
func (r *Reader) deliver(rec *ringbuf.Record, sink Sink) bool {
	ev, err := view(rec.RawSample, &r.scratch)
	if err != nil {
		if r.malformed.Add(1) == 1 {
			r.log.Error("malformed ring buffer record", "err", err)
		}
		return false
	}
	r.received.Add(1)
	sink(ev)
	return true
}

// Drain delivers what the ring buffer holds now to sink, and returns how
// many events it delivered: for a ring buffer no probe writes to any more.
func (r *Reader) Drain(sink Sink) int {
	var rec ringbuf.Record
	n := 0
	for r.rd.AvailableBytes() > 0 {
		r.rd.SetDeadline(time.Now())
		if err := r.rd.ReadInto(&rec); err != nil {
			break
		}
		if r.deliver(&rec, sink) {
			n++
		}
	}
	return n
}

// Pending is how many bytes are waiting in the ring buffer.
func (r *Reader) Pending() int { return r.rd.AvailableBytes() }

// Size is the ring buffer's capacity in bytes.
func (r *Reader) Size() int { return r.rd.BufferSize() }

// Received counts events delivered to the sink.
func (r *Reader) Received() uint64 { return r.received.Load() }

// Malformed counts records that could not be decoded (and were dropped).
func (r *Reader) Malformed() uint64 { return r.malformed.Load() }

// Close stops Run.
func (r *Reader) Close() error { return r.rd.Close() }
