package exporter

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"net"
	"os/exec"
	"strconv"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/podint/podint/internal/intreport"
	"github.com/podint/podint/test/harness"
)

// udpFrame is an IPv4 UDP packet of payload bytes from flow i, so that a
// report's size follows payload up to the snap length.
func udpFrame(i, payload int) []byte {
	b := make([]byte, 20+8+payload)
	b[0], b[8], b[9] = 0x45, 64, intreport.ProtoUDP
	binary.BigEndian.PutUint16(b[2:], uint16(len(b)))
	copy(b[12:], []byte{10, 22, 0, 2, 10, 22, 0, 3})
	binary.BigEndian.PutUint16(b[20:], uint16(i))
	binary.BigEndian.PutUint16(b[22:], 53)
	binary.BigEndian.PutUint16(b[24:], uint16(8+payload))
	for k := range payload {
		b[28+k] = byte(i + k)
	}
	return b
}

// gsoWorkload is a queue's worth of reports whose datagrams come in runs
// of equal sizes broken by shorter and longer ones, and runs longer than
// one GSO send may carry: every way the sender groups datagrams.
func gsoWorkload() []*intreport.Report {
	var sizes []int
	add := func(n, payload int) {
		for range n {
			sizes = append(sizes, payload)
		}
	}
	add(5, 100)   // a run
	add(1, 40)    // a shorter one ends it
	add(3, 100)   // a run
	add(2, 180)   // longer ones: a new run (cut to the snap length)
	add(1, 0)     // a lone small one
	add(150, 100) // longer than one send's 64 segments and than one round
	add(1, 60)
	add(37, 70)
	out := make([]*intreport.Report, len(sizes))
	for i, p := range sizes {
		r := report(i)
		r.Frame, r.FrameLen = udpFrame(i, p), uint32(28+p)
		out[i] = r
	}
	return out
}

// sendAll queues reports while the sender is held, so that it finds them
// queued and batches them as under load, then lets it go and waits until
// every datagram is accounted for.
func sendAll(t *testing.T, cfg Config, s seams, reports []*intreport.Report) (*Exporter, CollectorStats) {
	t.Helper()
	gate := make(chan struct{})
	s.gate = gate
	cfg.QueueLen = len(reports)
	e := start(t, cfg, s)
	for _, r := range reports {
		e.Send(r)
	}
	close(gate)
	// v0.5 counts errors in datagrams of one report each; the v2.0 cases
	// expect none.
	st := waitStats(t, e, "accounted for every report", func(st CollectorStats) bool {
		return st.Reports+st.SendErrors >= uint64(len(reports))
	})
	return e, st
}

// drain reads the datagrams a listener holds, until want arrived or none
// comes for a while (the losses the test expects).
func drain(t *testing.T, c *net.UDPConn, want int) [][]byte {
	t.Helper()
	var got [][]byte
	buf := make([]byte, 65536)
	for len(got) < want {
		wait := hangGuard
		if len(got) > 0 {
			wait = time.Second // only bounds waiting for datagrams that were lost
		}
		c.SetReadDeadline(time.Now().Add(wait))
		n, _, err := c.ReadFrom(buf)
		if err != nil {
			break
		}
		got = append(got, append([]byte(nil), buf[:n]...))
	}
	return got
}

func messages(e *Exporter) uint64 { return (*e.collectors.Load())[0].messages.Load() }

// The datagrams a collector receives are the same, byte for byte and in
// order, whether the kernel segments them (UDP GSO) or they are sent one
// by one; with GSO fewer sends carry them.
func TestGSOSendsTheSameDatagrams(t *testing.T) {
	for _, tc := range []struct {
		addr   string
		format intreport.Format
	}{
		{"127.0.0.1:0", intreport.FormatV05},
		{"[::1]:0", intreport.FormatV05},
		{"127.0.0.1:0", intreport.FormatV20},
		{"[::1]:0", intreport.FormatV20},
	} {
		t.Run(fmt.Sprintf("%s/%s", tc.format, tc.addr), func(t *testing.T) {
			work := gsoWorkload()
			var got [2][][]byte
			var sends [2]uint64
			for i, noGSO := range []bool{true, false} {
				l := listen(t, tc.addr)
				e, st := sendAll(t, Config{Collectors: []string{l.LocalAddr().String()}, Format: tc.format}, seams{noGSO: noGSO}, work)
				if st.SendErrors != 0 || st.Reports != uint64(len(work)) {
					t.Fatalf("noGSO=%v: %+v, want %d reports without errors", noGSO, st, len(work))
				}
				got[i] = drain(t, l, int(st.Datagrams))
				if len(got[i]) != int(st.Datagrams) {
					t.Fatalf("noGSO=%v: received %d datagrams, sent %d", noGSO, len(got[i]), st.Datagrams)
				}
				sends[i] = messages(e)
			}
			if len(got[0]) != len(got[1]) {
				t.Fatalf("%d datagrams one by one, %d with GSO", len(got[0]), len(got[1]))
			}
			for i := range got[0] {
				if !bytes.Equal(got[0][i], got[1][i]) {
					t.Fatalf("datagram %d differs with GSO:\n%x\n%x", i, got[0][i], got[1][i])
				}
			}
			if sends[0] != uint64(len(got[0])) || sends[1] >= sends[0] {
				t.Fatalf("%d datagrams in %d sends one by one and %d with GSO: want one send per datagram, then fewer", len(got[0]), sends[0], sends[1])
			}
		})
	}
}

// A socket the kernel will not segment for (checksums off: EINVAL) costs
// nothing: the refused send goes out datagram by datagram, and so does
// everything after it.
func TestGSORefusedFallsBackWithoutLoss(t *testing.T) {
	for _, tc := range []struct {
		addr         string
		level, which int
	}{
		{"127.0.0.1:0", unix.SOL_SOCKET, unix.SO_NO_CHECK},
		{"[::1]:0", unix.SOL_UDP, unix.UDP_NO_CHECK6_TX},
	} {
		t.Run(tc.addr, func(t *testing.T) {
			work := gsoWorkload()
			l := listen(t, tc.addr)
			if tc.which == unix.UDP_NO_CHECK6_TX { // IPv6 drops UDP without a checksum unless told
				rc, _ := l.SyscallConn()
				rc.Control(func(fd uintptr) { unix.SetsockoptInt(int(fd), unix.SOL_UDP, unix.UDP_NO_CHECK6_RX, 1) })
			}
			noCheck := func(fd int) error { return unix.SetsockoptInt(fd, tc.level, tc.which, 1) }
			e, st := sendAll(t, Config{Collectors: []string{l.LocalAddr().String()}}, seams{sockopt: noCheck}, work)
			if st.SendErrors != 0 || st.Reports != uint64(len(work)) || st.Datagrams != uint64(len(work)) {
				t.Fatalf("%+v, want %d reports and datagrams without errors", st, len(work))
			}
			got := drain(t, l, len(work))
			for i, d := range got {
				dg, err := intreport.Decode(d)
				if err != nil || dg.Seq != uint32(i+1) {
					t.Fatalf("datagram %d: seq %v, err %v", i, dg, err)
				}
			}
			if len(got) != len(work) {
				t.Fatalf("received %d of %d", len(got), len(work))
			}
			c := (*e.collectors.Load())[0]
			if e.Close(); c.gso || messages(e) != uint64(len(work)) {
				t.Fatalf("gso %v after a refusal, %d sends for %d datagrams: want GSO off, one send per datagram", c.gso, messages(e), len(work))
			}
		})
	}
}

// A collector behind a link whose MTU is below some reports' datagrams
// (Don't Fragment: EMSGSIZE): each of those is counted lost, the others
// arrive, with GSO exactly as without it.
func TestGSOAboveThePathMTUCountsEachDatagram(t *testing.T) {
	ns, err := harness.NewNamespace("gso-mtu")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ns.Delete() })
	work := gsoWorkload()
	small := len(intreport.AppendV05(nil, work[11], 0, 1, intreport.DefaultSnapLen)) // payload 0
	big := len(intreport.AppendV05(nil, work[0], 0, 1, intreport.DefaultSnapLen))    // payload 100
	mtu := udpIPv4Overhead + (small+big)/2
	if err := ns.Do(func() error {
		return exec.Command("ip", "link", "set", "lo", "mtu", strconv.Itoa(mtu)).Run()
	}); err != nil {
		t.Fatalf("set the namespace's loopback MTU to %d: %v", mtu, err)
	}
	inNS := func(network, address string) (conn net.Conn, err error) {
		err = ns.Do(func() error {
			conn, err = net.Dial(network, address)
			return err
		})
		return conn, err
	}
	var got [2][][]byte
	var lost [2]uint64
	for i, noGSO := range []bool{true, false} {
		var l *net.UDPConn
		if err := ns.Do(func() (err error) {
			l, err = net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
			return err
		}); err != nil {
			t.Fatal(err)
		}
		defer l.Close()
		e, st := sendAll(t, Config{Collectors: []string{l.LocalAddr().String()}}, seams{noGSO: noGSO, dial: inNS}, work)
		got[i], lost[i] = drain(t, l, int(st.Datagrams)), st.SendErrors
		if len(got[i]) != int(st.Datagrams) || st.Datagrams+st.SendErrors != uint64(len(work)) || st.SendErrors == 0 || st.Datagrams == 0 {
			t.Fatalf("noGSO=%v: %+v, received %d: want every report sent or counted lost, some of each", noGSO, st, len(got[i]))
		}
		if c := (*e.collectors.Load())[0]; e.Close() == nil && !noGSO && c.gso {
			t.Fatalf("GSO still on after EMSGSIZE")
		}
	}
	if lost[0] != lost[1] || len(got[0]) != len(got[1]) {
		t.Fatalf("one by one: %d lost, %d received; with GSO: %d lost, %d received", lost[0], len(got[0]), lost[1], len(got[1]))
	}
	for i := range got[0] {
		if !bytes.Equal(got[0][i], got[1][i]) {
			t.Fatalf("datagram %d differs with GSO", i)
		}
	}
}
