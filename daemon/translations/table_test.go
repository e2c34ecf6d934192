package translations

import (
	"net/netip"
	"testing"
	"time"

	"github.com/podint/podint/bpf"
	"github.com/podint/podint/internal/intreport"
)

func key(src string, sport uint16, dst string, dport uint16) bpf.FlowKey {
	return bpf.FlowKey{Saddr: netip.MustParseAddr(src).As16(), Daddr: netip.MustParseAddr(dst).As16(),
		Sport: sport, Dport: dport, Proto: intreport.ProtoTCP}
}

func flowOf(src string, sport uint16, dst string, dport uint16) intreport.Flow {
	return intreport.Flow{Src: netip.MustParseAddr(src), Dst: netip.MustParseAddr(dst), Proto: intreport.ProtoTCP,
		SrcPort: sport, DstPort: dport}
}

// clock is a table's time, moved by hand.
type clock struct{ t time.Time }

func (c *clock) now() time.Time { return c.t }

func newTable(max int, idle time.Duration) (*Table, *clock) {
	c := &clock{t: time.Unix(1000, 0)}
	t := New(max, idle)
	t.now = c.now
	return t, c
}

// request is the report of a DNATed request: pod a:sport -> svc, sent on
// to backend.
func request(t *Table, sport uint16, svc string, backend string) {
	t.Observe(&bpf.Event{Type: bpf.EventFlow, CtDir: bpf.CtOriginal, PreNat: key("10.22.1.2", sport, svc, 80)},
		flowOf("10.22.1.2", sport, backend, 8080))
}

func TestBothDirectionsNameOneConnectionAndItsService(t *testing.T) {
	tb, _ := newTable(0, 0)
	request(tb, 40000, "10.96.0.10", "10.22.1.3")
	// The reply enters backend -> a, leaves un-DNATed from the Service.
	tb.Observe(&bpf.Event{Type: bpf.EventFlow, CtDir: bpf.CtReply, PreNat: key("10.22.1.3", 8080, "10.22.1.2", 40000)},
		flowOf("10.96.0.10", 80, "10.22.1.2", 40000))
	// Masquerade: a's connection leaves as the node's address.
	tb.Observe(&bpf.Event{Type: bpf.EventFlow, CtDir: bpf.CtReply, PreNat: key("192.168.60.9", 443, "192.168.50.1", 61000)},
		flowOf("192.168.60.9", 443, "10.22.1.2", 40001))
	s := tb.Snapshot("n1")
	if len(s.Connections) != 2 {
		t.Fatalf("%d connections, want 2 (one per connection, whichever direction reported it): %+v", len(s.Connections), s.Connections)
	}
	masq, svc := s.Connections[0], s.Connections[1] // most recent first
	if svc.Src != "10.22.1.2:40000" || svc.Dst != "10.22.1.3:8080" || svc.Client != "10.22.1.2:40000" || svc.Service != "10.96.0.10:80" {
		t.Errorf("service connection %+v, want 10.22.1.2:40000 -> 10.22.1.3:8080 sent to 10.96.0.10:80", svc)
	}
	if masq.Src != "192.168.50.1:61000" || masq.Dst != "192.168.60.9:443" || masq.Client != "10.22.1.2:40001" || masq.Service != "" {
		t.Errorf("masqueraded connection %+v, want 192.168.50.1:61000 -> 192.168.60.9:443 for client 10.22.1.2:40001, no service", masq)
	}
}

func TestUntranslatedAndUnknownFlowsAreNotKept(t *testing.T) {
	tb, _ := newTable(0, 0)
	f := flowOf("10.22.1.2", 40000, "10.22.1.3", 8080)
	tb.Observe(&bpf.Event{Type: bpf.EventFlow}, f)                                                                            // no conntrack entry
	tb.Observe(&bpf.Event{Type: bpf.EventFlow, CtDir: bpf.CtOriginal, PreNat: key("10.22.1.2", 40000, "10.22.1.3", 8080)}, f) // not NATed
	tb.Observe(&bpf.Event{Type: bpf.EventDrop, CtDir: bpf.CtOriginal, PreNat: key("10.22.1.2", 40000, "10.96.0.10", 80)}, f)  // a drop
	if tb.Len() != 0 {
		t.Errorf("%d connections kept, want none", tb.Len())
	}
}

func TestTableIsBoundedAndCountsEvictions(t *testing.T) {
	tb, c := newTable(3, time.Hour)
	for i := range 5 {
		c.t = c.t.Add(time.Second)
		request(tb, uint16(40000+i), "10.96.0.10", "10.22.1.3")
	}
	s := tb.Snapshot("n1")
	if len(s.Connections) != 3 || s.Evicted != 2 || s.Max != 3 {
		t.Fatalf("%d connections, %d evicted (max %d); want 3 held and 2 evicted", len(s.Connections), s.Evicted, s.Max)
	}
	if s.Connections[2].Src != "10.22.1.2:40002" {
		t.Errorf("oldest kept %s, want 10.22.1.2:40002 (the least recently reported go first)", s.Connections[2].Src)
	}
}

func TestIdleConnectionsAgeOutAndReportsKeepThemAlive(t *testing.T) {
	tb, c := newTable(0, time.Minute)
	request(tb, 40000, "10.96.0.10", "10.22.1.3")
	request(tb, 40001, "10.96.0.10", "10.22.1.3")
	c.t = c.t.Add(50 * time.Second)
	request(tb, 40000, "10.96.0.10", "10.22.1.3") // still reported
	c.t = c.t.Add(20 * time.Second)
	s := tb.Snapshot("n1")
	if len(s.Connections) != 1 || s.Connections[0].Src != "10.22.1.2:40000" || s.Expired != 1 {
		t.Fatalf("connections %+v, %d expired; want 40000 kept (reported 20s ago) and 40001 expired", s.Connections, s.Expired)
	}
	if got := s.Connections[0]; got.FirstSeenAgoMs != 70000 || got.LastSeenAgoMs != 20000 {
		t.Errorf("ages first %dms last %dms, want 70000 and 20000", got.FirstSeenAgoMs, got.LastSeenAgoMs)
	}
}

func TestATupleTakenOverByAnotherConnectionIsANewEntry(t *testing.T) {
	tb, _ := newTable(0, 0)
	request(tb, 40000, "10.96.0.10", "10.22.1.3")
	first := tb.Snapshot("n1").Connections[0].ID
	// Through another Service to the same backend: another connection.
	request(tb, 40000, "10.96.0.20", "10.22.1.3")
	s := tb.Snapshot("n1")
	if len(s.Connections) != 1 || s.Connections[0].Service != "10.96.0.20:80" || s.Connections[0].ID == first || s.Ended != 1 {
		t.Fatalf("connections %+v, ended %d; want only the new one, with a new ID", s.Connections, s.Ended)
	}
	// Then directly, without NAT: a new flow of the tuple ends the entry;
	// a later report of an already known untranslated flow does not matter.
	direct := flowOf("10.22.1.2", 40000, "10.22.1.3", 8080)
	ev := &bpf.Event{Type: bpf.EventFlow, CtDir: bpf.CtOriginal, PreNat: key("10.22.1.2", 40000, "10.22.1.3", 8080)}
	tb.Observe(ev, direct)
	if tb.Len() != 1 {
		t.Fatalf("a steady report of an untranslated flow ended the entry")
	}
	ev.Cause = bpf.CauseNewFlow
	tb.Observe(ev, direct)
	if tb.Len() != 0 || tb.Ended() != 2 {
		t.Errorf("%d connections, %d ended; want the entry ended by the new untranslated flow on its tuple", tb.Len(), tb.Ended())
	}
}
