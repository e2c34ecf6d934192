package bpf

import (
	"testing"

	"github.com/cilium/ebpf/ringbuf"

	"github.com/podint/podint/bpf/pins"
)

// hostPortForTestRun makes BPF_PROG_TEST_RUN's packets, which run on the
// caller's loopback, look like a pod interface whose host veth is port.
func hostPortForTestRun(t *testing.T, p *Collection, port uint32) {
	t.Helper()
	ino, err := netnsIno()
	if err != nil {
		t.Fatal(err)
	}
	if err := p.objs.PodPorts.Put(&probePodPortKey{NetnsIno: ino, Ifindex: 1}, port); err != nil {
		t.Fatal(err)
	}
}

func TestPodSideProbesLetEveryPacketContinue(t *testing.T) {
	p := loadForTest(t)
	rd, err := ringbuf.NewReader(p.Events())
	if err != nil {
		t.Fatal(err)
	}
	defer rd.Close()
	ran := 0
	for _, withPort := range []bool{false, true} {
		if withPort {
			hostPortForTestRun(t, p, 77)
		}
		for _, tc := range packetCases(t) {
			for n := 0; n <= len(tc.frame); n++ {
				// The pod sends (egress records), then a pod receives:
				// both hooks on every length of every frame.
				for _, h := range pins.PodHooks() {
					if runProbe(t, p.Program(h), tc.frame[:n]) {
						ran++
					}
				}
			}
		}
	}
	if ran < 500 {
		t.Fatalf("only %d frames ran", ran)
	}
	// BPF_PROG_TEST_RUN builds a new sk_buff per run, so whether the
	// pod-side ingress finds the egress record depends on the allocator
	// handing out the same object again; what it reports, it must report
	// paired, between the pod's host port and itself.
	evs := drain(t, rd)
	for _, ev := range evs {
		if ev.Cause&CauseNoIngress != 0 || ev.IngressIfindex != 77 || ev.EgressIfindex != 77 {
			t.Errorf("pod-side event %+v: ports %d -> %d, cause %#x; want 77 -> 77 with its ingress record",
				ev.Flow, ev.IngressIfindex, ev.EgressIfindex, ev.Cause)
		}
	}
	t.Logf("%d frames ran, every one continued; %d paired at the pod side", ran, len(evs))
}

func TestPodSideWithoutHostPortIsCounted(t *testing.T) {
	p := loadForTest(t)
	before, err := p.Counters()
	if err != nil {
		t.Fatal(err)
	}
	frame := packetCases(t)[0].frame
	runProbe(t, p.Program(pins.PodEgress), frame)
	after, err := p.Counters()
	if err != nil {
		t.Fatal(err)
	}
	idx := int(probeCounterCOUNTER_POD_PORT_UNKNOWN)
	if after[idx]-before[idx] != 1 {
		t.Fatalf("%s went from %d to %d after a packet of an unknown pod interface, want +1",
			CounterNames()[idx], before[idx], after[idx])
	}
	hostPortForTestRun(t, p, 77)
	runProbe(t, p.Program(pins.PodEgress), frame)
	again, err := p.Counters()
	if err != nil {
		t.Fatal(err)
	}
	if again[idx] != after[idx] {
		t.Fatalf("%s counted a packet of a known pod interface", CounterNames()[idx])
	}
}
