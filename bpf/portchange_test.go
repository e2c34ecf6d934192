package bpf

import (
	"bytes"
	"encoding/binary"
	"testing"

	"github.com/podint/podint/bpf/pins"
)

func portChanges(evs []Event) (n int) {
	for _, ev := range evs {
		if ev.Cause&CausePortChange != 0 {
			n++
		}
	}
	return n
}

// A packet without its ingress record between paired packets of a flow is
// counted, but its sk_buff's last device is no ingress port: neither it nor
// the next paired packet is a port change. A paired packet that entered
// through another port is.
func TestAnUnpairedPacketIsNoPortChange(t *testing.T) {
	p, rd, _ := loadForLatency(t)
	frame := tcpFrame(t, podA, podB, 40002, 8080, 1000)

	for i := 0; ; i++ {
		// the first packet, paired: an unpaired attempt would report the
		// new flow with the device of its sk_buff as its ingress port
		clearFlows(t, p)
		r := pairThrough(t, p, rd, p.Program(pins.Ingress), frame, 0)
		if !r.restarted() && causes(r.paired)&CauseNewFlow != 0 {
			break
		}
		if i == 20 {
			t.Fatalf("the first packet was never reported paired as a new flow")
		}
	}
	before, err := p.Counters()
	if err != nil {
		t.Fatal(err)
	}
	unpaired := bytes.Clone(frame)
	binary.BigEndian.PutUint16(unpaired[14+4:], 0xffff) // an IPv4 ID no attempt of pairHeld used
	runEgressFrom(t, p, unpaired, 7)                    // no ingress run: no record
	after, err := p.Counters()
	if err != nil {
		t.Fatal(err)
	}
	if n := after[probeCounterCOUNTER_INGRESS_UNKNOWN] - before[probeCounterCOUNTER_INGRESS_UNKNOWN]; n != 1 {
		t.Fatalf("ingress_unknown +%d after a packet without its ingress record, want +1", n)
	}
	if evs := drain(t, rd); portChanges(evs) != 0 {
		t.Fatalf("a packet without its ingress record, last received by device 7: %d port changes, want none", portChanges(evs))
	}
	if evs := pairHeld(t, p, rd, frame, 0); portChanges(evs) != 0 {
		t.Fatalf("the next paired packet, through the flow's port: %d port changes, want none", portChanges(evs))
	}

	// The pod-side egress probe records the packet as entering through the
	// pod's host veth, port 77.
	hostPortForTestRun(t, p, 77)
	evs := pairThrough(t, p, rd, p.Program(pins.PodEgress), frame, 0).paired
	if portChanges(evs) != 1 || evs[len(evs)-1].IngressIfindex != 77 {
		t.Fatalf("a paired packet that entered through port 77: events %+v, want one port change to ingress 77", evs)
	}
}
