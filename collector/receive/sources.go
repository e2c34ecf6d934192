package receive

import (
	"cmp"
	"net/netip"
	"slices"
	"sync"

	"github.com/podint/podint/internal/intreport"
	"github.com/podint/podint/internal/reportseq"
)

// MaxSources bounds the sources tracked one by one; datagrams of further
// sources are counted in Totals.Untracked (a flood of spoofed senders
// must not grow memory without bound).
const MaxSources = 4096

// Source is one sender's accounting. A source is a sender address and
// port with a hw_id and format: a restarted podintd sends from a new port,
// so it starts a new source; a switch that restarts on the same port shows
// as a restart (a sequence number far behind).
type Source struct {
	From   netip.AddrPort
	HwID   uint8
	Format intreport.Format
	reportseq.Counter
	Reports uint64
}

// Totals is what arrived, over all sources.
type Totals struct {
	Datagrams, Reports uint64
	Lost, Restarts     uint64
	Malformed          uint64 // did not decode: truncated, inconsistent lengths
	UnknownVersion     uint64 // neither v0.5 (0) nor v2.0 (2) in the first four bits
	Untracked          uint64 // datagrams of sources beyond MaxSources
}

type sourceKey struct {
	from   netip.AddrPort
	hwID   uint8
	format intreport.Format
}

// Sources accounts for every sender. Safe for concurrent use.
type Sources struct {
	mu      sync.Mutex
	totals  Totals
	sources map[sourceKey]*Source
}

// NewSources returns empty accounting.
func NewSources() *Sources { return &Sources{sources: map[sourceKey]*Source{}} }

func (s *Sources) malformed(_ netip.AddrPort, payload []byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(payload) > 0 && payload[0]>>4 != 0 && payload[0]>>4 != 2 {
		s.totals.UnknownVersion++
		return
	}
	s.totals.Malformed++
}

func (s *Sources) datagram(from netip.AddrPort, d *intreport.Datagram) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.totals.Datagrams++
	s.totals.Reports += uint64(len(d.Reports))
	k := sourceKey{from, d.HwID, d.Format}
	src := s.sources[k]
	if src == nil {
		if len(s.sources) >= MaxSources {
			s.totals.Untracked++
			return
		}
		src = &Source{From: from, HwID: d.HwID, Format: d.Format}
		s.sources[k] = src
	}
	src.Reports += uint64(len(d.Reports))
	lostBefore := src.Lost
	switch out, _ := src.Observe(d.Seq, d.Format.SeqMask()); out {
	case reportseq.Restart:
		s.totals.Restarts++
	}
	// Lost can also go down (a late arrival taken back).
	s.totals.Lost = s.totals.Lost + src.Lost - lostBefore
}

// Totals returns what arrived over all sources.
func (s *Sources) Totals() Totals {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.totals
}

// Snapshot returns every tracked source, by address.
func (s *Sources) Snapshot() []Source {
	s.mu.Lock()
	out := make([]Source, 0, len(s.sources))
	for _, src := range s.sources {
		out = append(out, *src)
	}
	s.mu.Unlock()
	slices.SortFunc(out, func(a, b Source) int {
		if c := a.From.Compare(b.From); c != 0 {
			return c
		}
		return cmp.Compare(a.HwID, b.HwID)
	})
	return out
}
