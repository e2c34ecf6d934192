package identity

import (
	"net/netip"
	"sync"
	"time"

	"github.com/podint/podint/internal/intreport"
	"github.com/podint/podint/internal/topology"
)

// Translation is what a node's NAT did to one connection: the Service it
// was sent to and the client behind a masqueraded source.
type Translation struct {
	Service netip.AddrPort // the destination before DNAT; invalid: only the source was translated
	Client  netip.AddrPort // the source before SNAT
}

// Role is the part a reported flow plays in its translated connection.
type Role uint8

const (
	RoleRequest  Role = iota + 1 // client (after SNAT) -> backend: the request as it left the NATing node
	RoleReplyIn                  // backend -> client (after SNAT): the reply before the NATing node undid NAT
	RoleReplyOut                 // Service -> client: the reply as the NATing node sent it on
)

// Bounds of the translations kept.
const (
	DefaultMaxTranslations = 500000
	// translationKeep is how long an ended connection stays joinable: paths
	// are joined when their interval closes, well within it.
	translationKeep = 10 * time.Minute
	// translationSlack covers a report that arrives before the node's clock
	// said the connection began (the node records it as it sends).
	translationSlack   = time.Second
	translationHistory = 4 // connections remembered per flow
)

// natTenure is one connection's translation, valid for the flows of its
// 5-tuple from since to until (zero while the node still lists it).
type natTenure struct {
	id           uint64
	tr           Translation
	conn         intreport.Flow // the request as it left the node
	flows        []intreport.Flow
	since, until time.Time
}

type natNode struct {
	lastPoll time.Time
	open     map[uint64]*natTenure
	closed   []*natTenure // in the order they ended
}

// Translations joins flows to the connections the nodes saw NATed. A
// connection's translation applies to its 5-tuple only while the node
// lists it (from its first report): the tuple can be another connection's
// before or after, like an address that changes owner. Safe for
// concurrent use.
type Translations struct {
	mu      sync.RWMutex
	byFlow  map[intreport.Flow][]*natTenure
	nodes   map[uint32]*natNode
	size    int
	dropped uint64
	// Max bounds the connections held (DefaultMaxTranslations when 0);
	// beyond it new ones are counted in Dropped and not joined.
	Max int
}

// NewTranslations returns an empty table.
func NewTranslations() *Translations {
	return &Translations{byFlow: map[intreport.Flow][]*natTenure{}, nodes: map[uint32]*natNode{}}
}

func reverse(f intreport.Flow) intreport.Flow {
	return intreport.Flow{Src: f.Dst, Dst: f.Src, Proto: f.Proto, SrcPort: f.DstPort, DstPort: f.SrcPort}
}

func parseTranslation(c topology.Translation) (*natTenure, bool) {
	src, err1 := netip.ParseAddrPort(c.Src)
	dst, err2 := netip.ParseAddrPort(c.Dst)
	client, err3 := netip.ParseAddrPort(c.Client)
	if err1 != nil || err2 != nil || err3 != nil {
		return nil, false
	}
	n := &natTenure{id: c.ID, tr: Translation{Client: client},
		conn: intreport.Flow{Src: src.Addr().Unmap(), Dst: dst.Addr().Unmap(), Proto: c.Proto, SrcPort: src.Port(), DstPort: dst.Port()}}
	n.flows = []intreport.Flow{n.conn, reverse(n.conn)}
	if c.Service != "" {
		svc, err := netip.ParseAddrPort(c.Service)
		if err != nil {
			return nil, false
		}
		n.tr.Service = netip.AddrPortFrom(svc.Addr().Unmap(), svc.Port())
		n.flows = append(n.flows, intreport.Flow{Src: n.tr.Service.Addr(), Dst: client.Addr().Unmap(), Proto: c.Proto,
			SrcPort: n.tr.Service.Port(), DstPort: client.Port()})
	}
	return n, true
}

// Apply replaces what node switchID listed before with t, read at at (the
// time the request was sent). A connection no longer listed ends at the
// previous read, the last time it was known.
func (x *Translations) Apply(switchID uint32, t topology.Translations, at time.Time) {
	x.mu.Lock()
	defer x.mu.Unlock()
	max := x.Max
	if max <= 0 {
		max = DefaultMaxTranslations
	}
	n := x.nodes[switchID]
	if n == nil {
		n = &natNode{open: map[uint64]*natTenure{}}
		x.nodes[switchID] = n
	}
	ended := n.lastPoll
	if ended.IsZero() {
		ended = at
	}
	n.lastPoll = at
	listed := make(map[uint64]bool, len(t.Connections))
	for _, c := range t.Connections {
		listed[c.ID] = true
		if _, ok := n.open[c.ID]; ok {
			continue
		}
		if x.size >= max {
			x.dropped++
			continue
		}
		nt, ok := parseTranslation(c)
		if !ok {
			continue
		}
		nt.since = at.Add(-time.Duration(c.FirstSeenAgoMs)*time.Millisecond - translationSlack)
		n.open[c.ID] = nt
		x.size++
		for _, f := range nt.flows {
			h := append(x.byFlow[f], nt)
			if len(h) > translationHistory {
				h = h[len(h)-translationHistory:]
			}
			x.byFlow[f] = h
		}
	}
	for id, nt := range n.open {
		if !listed[id] {
			nt.until = ended
			delete(n.open, id)
			n.closed = append(n.closed, nt)
		}
	}
	// Nodes no longer read end their connections at their last read.
	for _, other := range x.nodes {
		if other != n && at.Sub(other.lastPoll) > translationKeep {
			for id, nt := range other.open {
				nt.until = other.lastPoll
				delete(other.open, id)
				other.closed = append(other.closed, nt)
			}
		}
		x.prune(other, at)
	}
}

// prune forgets n's connections that ended longer than translationKeep ago.
func (x *Translations) prune(n *natNode, now time.Time) {
	i := 0
	for ; i < len(n.closed) && now.Sub(n.closed[i].until) > translationKeep; i++ {
		nt := n.closed[i]
		x.size--
		for _, f := range nt.flows {
			h := x.byFlow[f][:0]
			for _, o := range x.byFlow[f] {
				if o != nt {
					h = append(h, o)
				}
			}
			if len(h) == 0 {
				delete(x.byFlow, f)
			} else {
				x.byFlow[f] = h
			}
		}
	}
	n.closed = n.closed[i:]
}

// Lookup returns the translation of the connection flow f belonged to at
// time at, and f's role in it.
func (x *Translations) Lookup(f intreport.Flow, at time.Time) (Translation, Role, bool) {
	x.mu.RLock()
	defer x.mu.RUnlock()
	h := x.byFlow[f]
	for i := len(h) - 1; i >= 0; i-- {
		nt := h[i]
		if nt.since.After(at) || (!nt.until.IsZero() && !at.Before(nt.until)) {
			continue
		}
		switch f {
		case nt.conn:
			return nt.tr, RoleRequest, true
		case nt.flows[1]:
			return nt.tr, RoleReplyIn, true
		default:
			return nt.tr, RoleReplyOut, true
		}
	}
	return Translation{}, 0, false
}

// Len is the number of connections held.
func (x *Translations) Len() int {
	x.mu.RLock()
	defer x.mu.RUnlock()
	return x.size
}

// Dropped counts connections not held because the table was full.
func (x *Translations) Dropped() uint64 {
	x.mu.RLock()
	defer x.mu.RUnlock()
	return x.dropped
}
