package collect

import (
	"bytes"
	"context"
	"encoding/binary"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/podint/podint/daemon/exporter"
	"github.com/podint/podint/internal/intreport"
)

// hangGuard only keeps a broken test from hanging; no assertion depends on speed.
const hangGuard = 20 * time.Second

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// sum16 is the one's complement sum of b, written apart from the code under
// test: a header or segment with a correct checksum sums to 0xffff.
func sum16(parts ...[]byte) uint16 {
	var all []byte
	for _, p := range parts {
		all = append(all, p...)
	}
	if len(all)%2 == 1 {
		all = append(all, 0)
	}
	var s uint64
	for i := 0; i < len(all); i += 2 {
		s += uint64(binary.BigEndian.Uint16(all[i:]))
	}
	for s > 0xffff {
		s = s&0xffff + s>>16
	}
	return uint16(s)
}

// The podint exporter sends to `podintctl collect`, which prints the
// reports, the summary at exit, and writes a pcap whose outer IP and UDP
// headers are valid.
func TestRunWithExporter(t *testing.T) {
	pcapPath := filepath.Join(t.TempDir(), "int.pcap")
	out := &syncBuffer{}
	addrc := make(chan net.Addr, 1)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- Run(ctx, Options{Listen: "127.0.0.1:0", Summary: true, PcapPath: pcapPath, Out: out,
			OnListen: func(a net.Addr) { addrc <- a }})
	}()
	listen := (<-addrc).(*net.UDPAddr)
	ex, err := exporter.New(exporter.Config{Collectors: []string{listen.String()}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer ex.Close()
	for i := range 3 {
		ex.Send(flowReport(uint64(1000 * (i + 1))))
	}
	ex.Send(dropReport(intreport.DropReasonACLDeny))
	deadline := time.Now().Add(hangGuard)
	for strings.Count(out.String(), "\n") < 4 {
		if time.Now().After(deadline) {
			t.Fatalf("reports did not arrive; output so far:\n%s", out)
		}
		time.Sleep(5 * time.Millisecond)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	text := out.String()
	for _, w := range []string{
		"flow tcp 10.22.0.2:40000 -> 10.22.0.3:5201 switch 10.0.0.1 port 7 -> 9 hop 3µs seq 3",
		"drop udp 10.22.0.2:40000 -> 10.22.0.3:53 switch 10.0.0.1 port 7 reason 80 (acl deny) seq 4",
		"4 datagrams, 4 reports, 0 malformed",
	} {
		if !strings.Contains(text, w) {
			t.Errorf("output lacks %q:\n%s", w, text)
		}
	}

	b, err := os.ReadFile(pcapPath)
	if err != nil {
		t.Fatal(err)
	}
	if len(b) < 24 || binary.LittleEndian.Uint32(b) != 0xa1b2c3d4 || binary.LittleEndian.Uint32(b[20:]) != 1 {
		t.Fatalf("pcap global header %x", b[:min(len(b), 24)])
	}
	b = b[24:]
	for i := 1; i <= 4; i++ {
		if len(b) < 16 {
			t.Fatalf("record %d missing", i)
		}
		n := int(binary.LittleEndian.Uint32(b[8:]))
		pkt := b[16 : 16+n]
		b = b[16+n:]
		ip, udp := pkt[14:34], pkt[34:]
		if binary.BigEndian.Uint16(pkt[12:]) != 0x0800 || sum16(ip) != 0xffff {
			t.Fatalf("record %d: EtherType %x, IPv4 header sum %x", i, pkt[12:14], sum16(ip))
		}
		if int(binary.BigEndian.Uint16(ip[2:])) != len(pkt)-14 || int(binary.BigEndian.Uint16(udp[4:])) != len(udp) {
			t.Fatalf("record %d: IP or UDP length does not match the packet", i)
		}
		if binary.BigEndian.Uint16(udp[2:]) != uint16(listen.Port) || !bytes.Equal(ip[12:16], []byte{127, 0, 0, 1}) {
			t.Fatalf("record %d: to port %d from %v", i, binary.BigEndian.Uint16(udp[2:]), ip[12:16])
		}
		pseudo := append(append([]byte{}, ip[12:20]...), 0, 17, byte(len(udp)>>8), byte(len(udp)))
		if sum16(pseudo, udp) != 0xffff {
			t.Fatalf("record %d: UDP checksum wrong", i)
		}
		if d, err := intreport.Decode(udp[8:]); err != nil || d.Seq != uint32(i) {
			t.Fatalf("record %d: payload %v seq %d", i, err, d.Seq)
		}
	}
	if len(b) != 0 {
		t.Fatalf("%d bytes after the last record", len(b))
	}
}

func TestPcapIPv6Datagram(t *testing.T) {
	var buf bytes.Buffer
	w, err := NewPcapWriter(&buf, netip.MustParseAddrPort("[::]:32766"))
	if err != nil {
		t.Fatal(err)
	}
	payload := v05(flowReport(1), 1)
	from := netip.MustParseAddrPort("[fd00::7]:5000")
	if err := w.WriteDatagram(t0, from, append(payload, 0x55)); err != nil { // odd length
		t.Fatal(err)
	}
	rec := buf.Bytes()[24:]
	if sec := binary.LittleEndian.Uint32(rec); sec != uint32(t0.Unix()) {
		t.Fatalf("timestamp %d", sec)
	}
	pkt := rec[16:]
	ip, udp := pkt[14:54], pkt[54:]
	if binary.BigEndian.Uint16(pkt[12:]) != 0x86dd || ip[6] != 17 || int(binary.BigEndian.Uint16(ip[4:])) != len(udp) {
		t.Fatalf("IPv6 header %x", ip)
	}
	pseudo := append(append([]byte{}, ip[8:40]...), 0, 0, byte(len(udp)>>8), byte(len(udp)), 0, 0, 0, 17)
	if sum16(pseudo, udp) != 0xffff {
		t.Fatal("UDP checksum wrong")
	}
	if !bytes.Equal(ip[8:24], from.Addr().AsSlice()) || ip[24+15] != 0 || binary.BigEndian.Uint16(udp) != 5000 {
		t.Fatalf("addresses or port wrong: %x", pkt)
	}
}
