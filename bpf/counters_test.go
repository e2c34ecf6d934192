package bpf

import (
	"testing"

	"github.com/podint/podint/bpf/pins"
)

// Every counter of enum counter has its help text, so operators never see
// an unexplained loss counter.
func TestEveryCounterIsExplained(t *testing.T) {
	for _, n := range CounterNames() {
		if CounterHelp[n] == "" {
			t.Errorf("counter %q has no help text in CounterHelp", n)
		}
	}
}

// A packet is counted once, where it leaves (kernel_packets): the ingress
// probes (the pod side's egress is one) do not count it, nor does the pod
// side's ingress when it finds no record (the host veth's egress took the
// packet); the egress probe does, whether or not the packet parses.
func TestPacketsAreCountedOnceWhereTheyLeave(t *testing.T) {
	p := loadForTest(t)
	hostPortForTestRun(t, p, 77)
	frame := packetCases(t)[0].frame
	runs := []struct {
		prog pins.Hook
		want uint64
	}{
		// the pod side's ingress first, while no record is in flight
		{pins.PodIngress, 0}, {pins.Ingress, 0}, {pins.PodEgress, 0}, {pins.Egress, 1},
	}
	for _, r := range runs {
		for _, f := range [][]byte{frame, frame[:minTestRunLen]} { // an IP packet, and one cut inside its TCP header
			before, err := p.Counters()
			if err != nil {
				t.Fatal(err)
			}
			if !runProbe(t, p.Program(r.prog), f) {
				continue // shorter than test-run takes
			}
			after, err := p.Counters()
			if err != nil {
				t.Fatal(err)
			}
			if got := after[CounterPackets] - before[CounterPackets]; got != r.want {
				t.Errorf("%s counted %d packets for one %d-byte frame, want %d", r.prog, got, len(f), r.want)
			}
		}
	}
}
