package bpf

import (
	"bytes"
	"testing"

	"github.com/cilium/ebpf/ringbuf"
	"github.com/gopacket/gopacket/layers"

	"github.com/podint/podint/bpf/pins"
)

// MaxSnapLen is generated from SNAP_LEN, the size of the event's data.
func TestMaxSnapLenIsTheEventsCapacity(t *testing.T) {
	if n := len(Event{}.Data); n != MaxSnapLen {
		t.Fatalf("struct event holds %d bytes of packet, MaxSnapLen says %d", n, MaxSnapLen)
	}
	if MaxSnapLen&(MaxSnapLen-1) != 0 {
		t.Fatalf("MaxSnapLen %d is not a power of two: the probes' copy bound relies on it", MaxSnapLen)
	}
}

// An event carries the daemon's snap length of a long packet, never more
// than SNAP_LEN, and a short packet whole.
func TestEventsCaptureTheConfiguredSnapLength(t *testing.T) {
	p := loadForTest(t)
	rd, err := ringbuf.NewReader(p.Events())
	if err != nil {
		t.Fatal(err)
	}
	defer rd.Close()
	i4 := ip4(layers.IPProtocolTCP)
	long := serialize(t, eth(layers.EthernetTypeIPv4), i4, withNet(tcp(40000, 5201, nil), i4), payload(1400))
	short := long[:14+20+20+10]
	short = append([]byte{}, short...)
	short[14+3] = byte(len(short) - 14) // IPv4 total length of the short packet
	for _, tc := range []struct {
		snap  int
		frame []byte
		want  int
	}{
		{0, long, MaxSnapLen},
		{74, long, 74},
		{128, long, 128},
		{200, long, 200},
		{MaxSnapLen, long, MaxSnapLen},
		{128, short, len(short)},
	} {
		s := DefaultSettings
		s.SnapLen = tc.snap
		if err := p.SetSettings(s); err != nil {
			t.Fatal(err)
		}
		clearFlows(t, p)
		runProbe(t, p.Program(pins.Egress), tc.frame)
		evs := drain(t, rd)
		if len(evs) != 1 {
			t.Fatalf("snap length %d: %d events, want 1", tc.snap, len(evs))
		}
		ev := evs[0]
		if int(ev.SnapLen) != tc.want || !bytes.Equal(ev.Data[:ev.SnapLen], tc.frame[:tc.want]) {
			t.Errorf("snap length %d, %d-byte packet: captured %d bytes, want its first %d", tc.snap, len(tc.frame), ev.SnapLen, tc.want)
		}
		if int(ev.PktLen) != len(tc.frame) {
			t.Errorf("snap length %d: packet length %d, want %d", tc.snap, ev.PktLen, len(tc.frame))
		}
	}
	s := DefaultSettings
	s.SnapLen = MaxSnapLen + 1
	if err := p.SetSettings(s); err == nil {
		t.Errorf("snap length %d accepted, above what the probes capture", s.SnapLen)
	}
}
