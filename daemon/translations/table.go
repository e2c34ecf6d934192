// Package translations keeps the connections the node's reports saw
// translated by NAT (a Service's DNAT, a masquerade), so that the cluster
// collector, which only receives INT reports of the packets as they left
// the node, can tell which Service a flow was sent to and which pod a
// masqueraded source stands for. The table is bounded, entries age out
// when their connection stops being reported, and what leaves it is
// counted.
package translations

import (
	"container/list"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/podint/podint/bpf"
	"github.com/podint/podint/daemon/events"
	"github.com/podint/podint/internal/intreport"
	"github.com/podint/podint/internal/topology"
)

// Defaults of the table: a node's recent NATed connections. A connection
// takes about 370 bytes of heap (BenchmarkFullTable): 24 MiB when full.
const (
	DefaultMax  = 65536
	DefaultIdle = 2 * time.Minute // well above the report interval and the collector's poll interval
)

// entry is one connection, keyed by its original direction after NAT.
type entry struct {
	id              uint64
	conn            intreport.Flow // client (after SNAT) -> backend (after DNAT)
	client          netip.AddrPort // source before SNAT
	service         netip.AddrPort // destination before DNAT; invalid: none
	first, lastSeen time.Time
}

// Table is the node's recent translations. Observe runs on the report
// path (one goroutine); Snapshot serves readers. Safe for concurrent use.
type Table struct {
	max  int
	idle time.Duration
	now  func() time.Time

	mu     sync.Mutex
	byConn map[intreport.Flow]*list.Element
	lru    *list.List // of *entry, most recently reported first
	nextID uint64

	size                    atomic.Int64
	evicted, expired, ended atomic.Uint64
}

// New returns a table of at most max connections (DefaultMax when 0)
// forgotten after idle without a report (DefaultIdle when 0).
func New(max int, idle time.Duration) *Table {
	if max <= 0 {
		max = DefaultMax
	}
	if idle <= 0 {
		idle = DefaultIdle
	}
	return &Table{max: max, idle: idle, now: time.Now, byConn: map[intreport.Flow]*list.Element{}, lru: list.New(),
		// IDs start at the start time, so a restarted daemon never reuses one.
		nextID: uint64(time.Now().UnixNano())}
}

func hasPorts(proto uint8) bool {
	return proto == intreport.ProtoTCP || proto == intreport.ProtoUDP || proto == intreport.ProtoSCTP
}

func reverse(f intreport.Flow) intreport.Flow {
	return intreport.Flow{Src: f.Dst, Dst: f.Src, Proto: f.Proto, SrcPort: f.DstPort, DstPort: f.SrcPort}
}

// Observe learns from one report of flow reported (the packet as it left
// the node) and its event: a translated connection is added or refreshed;
// a new flow that conntrack tracks untranslated on a connection's 5-tuple
// ends that connection's entry (the tuple has a new owner).
func (t *Table) Observe(ev *bpf.Event, reported intreport.Flow) {
	if ev.Type != bpf.EventFlow || ev.CtDir == bpf.CtNone || !hasPorts(reported.Proto) {
		return
	}
	before := events.FlowOf(&ev.PreNat)
	reply := ev.CtDir == bpf.CtReply
	if before == reported {
		if ev.Cause&bpf.CauseNewFlow != 0 && t.size.Load() > 0 {
			conn := reported
			if reply {
				conn = reverse(reported)
			}
			t.end(conn)
		}
		return
	}
	// Both directions name the same connection: the request leaves as
	// client' -> backend (before: client -> service); the reply enters as
	// backend -> client' and leaves as service -> client.
	var e entry
	if !reply {
		e = entry{conn: reported, client: netip.AddrPortFrom(before.Src, before.SrcPort)}
		if before.Dst != reported.Dst || before.DstPort != reported.DstPort {
			e.service = netip.AddrPortFrom(before.Dst, before.DstPort)
		}
	} else {
		e = entry{conn: reverse(before), client: netip.AddrPortFrom(reported.Dst, reported.DstPort)}
		if before.Src != reported.Src || before.SrcPort != reported.SrcPort {
			e.service = netip.AddrPortFrom(reported.Src, reported.SrcPort)
		}
	}
	t.put(e)
}

func (t *Table) put(e entry) {
	now := t.now()
	t.mu.Lock()
	defer t.mu.Unlock()
	t.expire(now)
	if el, ok := t.byConn[e.conn]; ok {
		old := el.Value.(*entry)
		if old.client == e.client && old.service == e.service {
			old.lastSeen = now
			t.lru.MoveToFront(el)
			return
		}
		t.remove(el) // the tuple is another connection's now
		t.ended.Add(1)
	}
	if t.lru.Len() >= t.max {
		t.remove(t.lru.Back())
		t.evicted.Add(1)
	}
	t.nextID++
	n := &entry{id: t.nextID, conn: e.conn, client: e.client, service: e.service, first: now, lastSeen: now} // e stays on the stack: a refresh allocates nothing
	t.byConn[e.conn] = t.lru.PushFront(n)
	t.size.Store(int64(t.lru.Len()))
}

func (t *Table) end(conn intreport.Flow) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if el, ok := t.byConn[conn]; ok {
		t.remove(el)
		t.ended.Add(1)
	}
}

// expire drops the entries idle for longer than the idle time; the least
// recently reported are at the back.
func (t *Table) expire(now time.Time) {
	for el := t.lru.Back(); el != nil && now.Sub(el.Value.(*entry).lastSeen) > t.idle; el = t.lru.Back() {
		t.remove(el)
		t.expired.Add(1)
	}
}

func (t *Table) remove(el *list.Element) {
	delete(t.byConn, el.Value.(*entry).conn)
	t.lru.Remove(el)
	t.size.Store(int64(t.lru.Len()))
}

// Len is the number of connections held.
func (t *Table) Len() int { return int(t.size.Load()) }

// Evicted counts connections dropped to make room for newer ones.
func (t *Table) Evicted() uint64 { return t.evicted.Load() }

// Expired counts connections forgotten after the idle time.
func (t *Table) Expired() uint64 { return t.expired.Load() }

// Ended counts connections whose 5-tuple another connection took over.
func (t *Table) Ended() uint64 { return t.ended.Load() }

// Snapshot is the table as node serves it.
func (t *Table) Snapshot(node string) topology.Translations {
	now := t.now()
	t.mu.Lock()
	t.expire(now)
	out := topology.Translations{Node: node, Max: t.max, Connections: make([]topology.Translation, 0, t.lru.Len())}
	for el := t.lru.Front(); el != nil; el = el.Next() {
		e := el.Value.(*entry)
		tr := topology.Translation{ID: e.id, Proto: e.conn.Proto,
			Src:    netip.AddrPortFrom(e.conn.Src, e.conn.SrcPort).String(),
			Dst:    netip.AddrPortFrom(e.conn.Dst, e.conn.DstPort).String(),
			Client: e.client.String(), FirstSeenAgoMs: now.Sub(e.first).Milliseconds(), LastSeenAgoMs: now.Sub(e.lastSeen).Milliseconds()}
		if e.service.IsValid() {
			tr.Service = e.service.String()
		}
		out.Connections = append(out.Connections, tr)
	}
	t.mu.Unlock()
	out.Evicted, out.Expired, out.Ended = t.evicted.Load(), t.expired.Load(), t.ended.Load()
	return out
}
