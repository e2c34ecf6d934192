package events

import (
	"bytes"
	"strings"
	"testing"
	"unsafe"

	"github.com/podint/podint/bpf"
)

func rawRecord(ev *bpf.Event) []byte {
	return bytes.Clone(unsafe.Slice((*byte)(unsafe.Pointer(ev)), recordSize))
}

// Records of probes with a smaller SNAP_LEN, left in the pinned ring buffer
// across an upgrade, decode with the bytes they hold; a record without all
// the fields is refused.
func TestDecodeTakesRecordsOfASmallerSnapLen(t *testing.T) {
	ev := bpf.Event{IngressIfindex: 3, EgressIfindex: 4, PktLen: 1454, SnapLen: 200, Type: bpf.EventFlow}
	for i := range ev.Data {
		ev.Data[i] = byte(i)
	}
	raw := rawRecord(&ev)

	got, err := Decode(raw)
	if err != nil || *got != ev {
		t.Fatalf("whole record: %+v, %v", got, err)
	}
	// An older probe captured 128 bytes at most: its record ends there.
	old := ev
	old.SnapLen = 128
	short := rawRecord(&old)[:minRecordSize+128]
	got, err = Decode(short)
	if err != nil {
		t.Fatal(err)
	}
	if got.SnapLen != 128 || got.IngressIfindex != 3 || got.PktLen != 1454 || !bytes.Equal(got.Data[:128], ev.Data[:128]) {
		t.Errorf("record of a 128-byte snap length: snap %d in %d len %d", got.SnapLen, got.IngressIfindex, got.PktLen)
	}
	// A snap length that claims more than the record holds is cut to it.
	got, err = Decode(raw[:minRecordSize+64])
	if err != nil || got.SnapLen != 64 {
		t.Errorf("record holding 64 of 200 captured bytes: snap %d, %v", got.SnapLen, err)
	}
	if _, err := Decode(raw[:minRecordSize-1]); err == nil || !strings.Contains(err.Error(), "different versions") {
		t.Errorf("a record without all the fields: %v", err)
	}
}

// The probes' NO_INGRESS cause becomes a report whose hop latency is
// unknown; a paired packet's is its measured latency.
func TestToReportKeepsAnUnknownHopLatencyUnknown(t *testing.T) {
	paired := bpf.Event{Type: bpf.EventFlow, Cause: bpf.CauseNewFlow, IngressTs: 1000, EgressTs: 4000, IngressIfindex: 3, EgressIfindex: 4}
	r := ToReport(&paired, 1)
	if hop, ok := r.HopLatency(); !ok || hop != 3000 || r.NoIngress {
		t.Errorf("paired packet: hop %d (known %v), no ingress %v; want 3000", hop, ok, r.NoIngress)
	}
	flooded := bpf.Event{Type: bpf.EventFlow, Cause: bpf.CauseNewFlow | bpf.CauseNoIngress, IngressTs: 4000, EgressTs: 4000, EgressIfindex: 4}
	r = ToReport(&flooded, 1)
	if hop, ok := r.HopLatency(); ok || !r.NoIngress {
		t.Errorf("packet without a probed ingress: hop %d (known %v), no ingress %v; want unknown", hop, ok, r.NoIngress)
	}
}
