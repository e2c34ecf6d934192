package intreport

import (
	"encoding/binary"
	"math/rand/v2"
	"testing"
)

// Reports fill datagrams up to the limit, report_length and md_length add
// up exactly to the datagram length, and each datagram takes the next
// sequence number.
func TestV20BatchFillsDatagrams(t *testing.T) {
	const limit = 1500 - 48
	seq := NewSequence(FormatV20)
	b, err := NewV20Batch(9, 0, limit, &seq)
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(3, 3))
	var sent []*Report
	var datagrams [][]byte
	var last []byte // in the batch's memory: intact until the next datagram closes
	for range 200 {
		r := randomReport(rng)
		r.SwitchID = 0x0a000001
		sent = append(sent, r)
		d := b.Add(r)
		if d == nil && last != nil && string(last) != string(datagrams[len(datagrams)-1]) {
			t.Fatalf("datagram %d changed before the next one was closed", len(datagrams)-1)
		}
		if d != nil {
			last = d
			datagrams = append(datagrams, append([]byte(nil), d...))
		}
	}
	datagrams = append(datagrams, b.Flush())
	if b.Flush() != nil || b.Len() != 0 {
		t.Fatal("flush left reports behind")
	}
	got := 0
	for i, d := range datagrams {
		if len(d) > limit {
			t.Fatalf("datagram %d: %d bytes, above the limit %d", i, len(d), limit)
		}
		if i < len(datagrams)-1 && len(d) < limit-(8+4+8+36+DefaultSnapLen+3) {
			t.Fatalf("datagram %d: %d bytes, closed while another report would have fit", i, len(d))
		}
		dg, err := Decode(d)
		if err != nil {
			t.Fatalf("datagram %d: %v", i, err)
		}
		if dg.Seq != uint32(i+1) || dg.HwID != 9 {
			t.Fatalf("datagram %d: seq %d hw_id %d, want seq %d hw_id 9", i, dg.Seq, dg.HwID, i+1)
		}
		walked := 8
		for j := range dg.Reports {
			words := int(d[walked+1])
			mdWords := int(d[walked+2])
			if want := mdLen(binary.BigEndian.Uint16(d[walked+4:])) / 4; mdWords != want {
				t.Fatalf("datagram %d report %d: md_length %d, want %d", i, j, mdWords, want)
			}
			walked += 4 + 4*words
			checkCommon(t, got, sent[got], &dg.Reports[j], FormatV20)
			got++
		}
		if walked != len(d) {
			t.Fatalf("datagram %d: report lengths add up to %d bytes, datagram has %d", i, walked, len(d))
		}
	}
	if got != len(sent) {
		t.Fatalf("decoded %d reports, sent %d", got, len(sent))
	}
	if len(datagrams) < 10 {
		t.Fatalf("only %d datagrams for %d reports: not batching as expected", len(datagrams), len(sent))
	}
}

// A group header names one node, so a report from another switch starts a
// new datagram; a report alone in a small datagram has its frame cut.
func TestV20BatchSplitsBySwitchAndCutsFrames(t *testing.T) {
	b, err := NewV20Batch(0, 1000, MinV20Datagram, nil)
	if err != nil {
		t.Fatal(err)
	}
	r1 := specFlowReport(t)
	r1.Frame = buildFrame(tcpFlow, true, false, 900)
	if d := b.Add(r1); d != nil {
		t.Fatal("first report closed a datagram")
	}
	r2 := specDropReport(t)
	r2.SwitchID = 0x0a000002
	d := b.Add(r2)
	if len(d) > MinV20Datagram {
		t.Fatalf("datagram of %d bytes, above the limit %d", len(d), MinV20Datagram)
	}
	dg, err := Decode(d)
	if err != nil || len(dg.Reports) != 1 || dg.NodeID != 0x0a000001 || dg.Reports[0].Flow != tcpFlow {
		t.Fatalf("first datagram %+v, %v", dg, err)
	}
	dg, err = Decode(b.Flush())
	if err != nil || dg.NodeID != 0x0a000002 || dg.Seq != 2 {
		t.Fatalf("second datagram %+v, %v", dg, err)
	}
	if _, err := NewV20Batch(0, 0, MinV20Datagram-1, nil); err == nil {
		t.Fatal("accepted a limit below the minimum")
	}
}

// The largest report_length (255 words) bounds a v2.0 inner frame, whatever
// the snap length.
func TestV20FrameBoundedByReportLength(t *testing.T) {
	r := specFlowReport(t)
	r.Frame = buildFrame(tcpFlow, true, false, 3000)
	d := AppendV20(nil, r, 0, 1, 4000)
	if d[9] != 0xff {
		t.Fatalf("report_length %d words, want 255", d[9])
	}
	if _, err := Decode(d); err != nil {
		t.Fatal(err)
	}
}

func TestSequenceWraps(t *testing.T) {
	for _, tc := range []struct {
		f    Format
		from uint32
		want []uint32
	}{
		{FormatV05, 1<<32 - 2, []uint32{1<<32 - 2, 1<<32 - 1, 0, 1}},
		{FormatV20, 1<<22 - 2, []uint32{1<<22 - 2, 1<<22 - 1, 0, 1}},
	} {
		s := SequenceFrom(tc.f, tc.from)
		for i, w := range tc.want {
			if got := s.Next(); got != w {
				t.Fatalf("%s: number %d is %d, want %d", tc.f, i, got, w)
			}
		}
	}
	if s := NewSequence(FormatV20); s.Next() != 1 {
		t.Fatal("a new sequence does not start at 1")
	}
}

func TestParseFormat(t *testing.T) {
	for in, want := range map[string]Format{"": FormatV05, "v0.5": FormatV05, "0.5": FormatV05, "V2.0": FormatV20, "2.0": FormatV20, "v2": FormatV20} {
		if got, err := ParseFormat(in); err != nil || got != want {
			t.Fatalf("ParseFormat(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	if _, err := ParseFormat("v1.0"); err == nil || err.Error() != `report format "v1.0": want v0.5 or v2.0` {
		t.Fatalf("ParseFormat(v1.0): %v", err)
	}
}

func TestDropReasonNames(t *testing.T) {
	if got := DropReasonName(DropReasonACLDeny); got != "acl deny" {
		t.Fatalf("80 is %q", got)
	}
	if err := RegisterDropReasonName(80, "mine"); err == nil {
		t.Fatal("renamed a standard code")
	}
	if err := RegisterDropReasonName(200, "test: netfilter drop"); err != nil {
		t.Fatal(err)
	}
	if err := RegisterDropReasonName(200, "something else"); err == nil {
		t.Fatal("renamed a registered code")
	}
	if got := DropReasonName(200); got != "test: netfilter drop" {
		t.Fatalf("200 is %q", got)
	}
	if got := DropReasonName(201); got != "" {
		t.Fatalf("unregistered 201 is %q", got)
	}
}
