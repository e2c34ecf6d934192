package bpf

import (
	"errors"
	"testing"
	"time"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/ringbuf"
	"golang.org/x/sys/unix"

	"github.com/podint/podint/bpf/pins"
	"github.com/podint/podint/internal/bpftest"
	"github.com/podint/podint/internal/nstest"
)

// nfAccept is NF_ACCEPT: the netfilter programs let every packet through.
const nfAccept = 1

// nfLocalIn is the test-run context of a netfilter program (struct
// nf_hook_state: hook, protocol family, the rest zero) for IPv4's LOCAL_IN.
// A hook other than LOCAL_OUT makes the kernel parse the frame's Ethernet
// header and set the network header, as it is at those hooks.
var nfLocalIn = make([]byte, 48)

func init() { nfLocalIn[0], nfLocalIn[1] = 1, 2 } // NF_INET_LOCAL_IN, NFPROTO_IPV4

// runNetfilter runs a netfilter program once on frame, as IPv4 or IPv6 by
// its EtherType, and checks it accepted the packet. It reports whether the
// kernel ran it (it refuses frames shorter than Ethernet + IPv4, and
// frames of another family than the context's).
func runNetfilter(t *testing.T, prog *ebpf.Program, frame []byte) bool {
	t.Helper()
	ctx := append([]byte{}, nfLocalIn...)
	if len(frame) >= 14 && frame[12] == 0x86 && frame[13] == 0xdd {
		ctx[1] = 10 // NFPROTO_IPV6
	}
	ret, err := prog.Run(&ebpf.RunOptions{Data: frame, Context: ctx, Repeat: 1})
	if err != nil {
		if errors.Is(err, unix.EINVAL) || errors.Is(err, unix.EPROTO) {
			return false
		}
		t.Fatalf("test run of %d bytes: %v", len(frame), err)
	}
	if ret != nfAccept {
		t.Fatalf("verdict %d, want NF_ACCEPT (1): the CPU port changed the packet's fate", ret)
	}
	return true
}

func TestTheCPUPortAcceptsEveryPacketAtEveryLength(t *testing.T) {
	p := loadForTest(t)
	ran := 0
	for _, tc := range packetCases(t) {
		for n := 0; n <= len(tc.frame); n++ {
			for _, prog := range []*ebpf.Program{p.objs.PodintLocalIn, p.objs.PodintLocalOut} {
				if runNetfilter(t, prog, tc.frame[:n]) {
					ran++
				}
			}
		}
	}
	if ran < 500 {
		t.Fatalf("only %d frames ran", ran)
	}
	t.Logf("%d frames ran, every one accepted", ran)
}

// newestRecord is the slot of the in-flight record written last.
func newestRecord(t *testing.T, p *Collection) uint32 {
	t.Helper()
	n := int(p.objs.Inflight.MaxEntries())
	keys, vals := make([]uint32, n), make([]probeInflight, n)
	var cursor ebpf.MapBatchCursor
	got, err := p.objs.Inflight.BatchLookup(&cursor, keys, vals, nil)
	if err != nil && !errors.Is(err, ebpf.ErrKeyNotExist) {
		t.Fatal(err)
	}
	var slot uint32
	var newest uint64
	for i := 0; i < got; i++ {
		if vals[i].Skb != 0 && vals[i].Ts > newest {
			newest, slot = vals[i].Ts, keys[i]
		}
	}
	if newest == 0 {
		t.Fatal("the ingress run left no in-flight record")
	}
	return slot
}

func TestTheCPUPortPairsLikeAPort(t *testing.T) {
	p := loadForTest(t)
	rd, err := ringbuf.NewReader(p.Events())
	if err != nil {
		t.Fatal(err)
	}
	defer rd.Close()
	pinCPU(t)
	// A test run's sk_buff is on the loopback, ifindex 1, which is also the
	// CPU port: LOCAL_IN takes a record from there for the node talking to
	// itself and reports nothing, so the delivered direction is shown by
	// the end-to-end test (TestTheNodesOwnStackIsTheCPUPort); here, the sent
	// direction and the signature check at LOCAL_IN.
	in := tcpFrame(t, podA, clusterIP, 40000, 80, 1000)
	sent := tcpFrame(t, nodeIP, podA, 80, 40000, 7)

	t.Run("delivered to the node after DNAT: LOCAL_IN takes the record", func(t *testing.T) {
		// Records of earlier attempts stay fresh, so meeting one is a
		// pairing (the same packet), never a refusal by age.
		s := DefaultSettings
		s.InflightMaxAge = time.Hour
		if err := p.SetSettings(s); err != nil {
			t.Fatal(err)
		}
		defer p.SetSettings(DefaultSettings)
		delivered := tcpFrame(t, podA, nodeIP, 40000, 80, 1000)
		for i := 0; i < pairAttempts; i++ {
			before, err := p.Counters()
			if err != nil {
				t.Fatal(err)
			}
			runProbe(t, p.Program(pins.Ingress), in)
			slot := newestRecord(t, p)
			runNetfilter(t, p.objs.PodintLocalIn, delivered)
			after, err := p.Counters()
			if err != nil {
				t.Fatal(err)
			}
			if after[probeCounterCOUNTER_INFLIGHT_STALE] != before[probeCounterCOUNTER_INFLIGHT_STALE] {
				t.Fatalf("attempt %d: LOCAL_IN refused the packet's own record", i+1)
			}
			var rec probeInflight
			if err := p.objs.Inflight.Lookup(slot, &rec); err != nil {
				t.Fatal(err)
			}
			if rec.Skb == 0 {
				return // taken: paired (and, from the loopback, not reported)
			}
		}
		t.Fatalf("LOCAL_IN never met the ingress run's sk_buff in %d attempts", pairAttempts)
	})
	t.Run("sent by the node: enters through the CPU port", func(t *testing.T) {
		for i := 0; i < pairAttempts; i++ {
			clearFlows(t, p)
			runNetfilter(t, p.objs.PodintLocalOut, sent)
			runProbe(t, p.Program(pins.Egress), sent)
			evs := drain(t, rd)
			if len(evs) != 1 {
				t.Fatalf("%d events for one egress packet, want 1", len(evs))
			}
			if evs[0].Cause&CauseNoIngress != 0 {
				continue // another sk_buff
			}
			if evs[0].IngressIfindex != CPUPort || evs[0].EgressTs <= evs[0].IngressTs {
				t.Fatalf("ingress port %d, ts %d -> %d: want the CPU port with a hop latency", evs[0].IngressIfindex, evs[0].IngressTs, evs[0].EgressTs)
			}
			return
		}
		t.Fatalf("the egress run never met LOCAL_OUT's sk_buff in %d attempts", pairAttempts)
	})
	t.Run("another packet on the same buffer is not delivered as this one", func(t *testing.T) {
		before, err := p.Counters()
		if err != nil {
			t.Fatal(err)
		}
		other := tcpFrame(t, podA, nodeIP, 40000, 80, 2000)
		for i := 0; i < pairAttempts; i++ {
			runProbe(t, p.Program(pins.Ingress), in)
			runNetfilter(t, p.objs.PodintLocalIn, other)
			if evs := drain(t, rd); len(evs) != 0 {
				t.Fatalf("attempt %d: LOCAL_IN reported another packet's ingress record", i+1)
			}
			after, err := p.Counters()
			if err != nil {
				t.Fatal(err)
			}
			if after[probeCounterCOUNTER_INFLIGHT_STALE] > before[probeCounterCOUNTER_INFLIGHT_STALE] {
				return // the same sk_buff, refused
			}
		}
		t.Fatalf("LOCAL_IN never met the ingress run's sk_buff in %d attempts: nothing shown", pairAttempts)
	})
}

// A restarted daemon's CPU port takes the place of the earlier daemon's,
// start after start: a netfilter hook takes one BPF program per priority,
// and its links cannot be updated.
func TestCPUPortReplacesTheEarlierDaemons(t *testing.T) {
	requireRoot(t)
	nstest.EnterFresh(t)
	pinDir := bpftest.TempPinDir(t)
	for start := 1; start <= 3; start++ {
		p := loadAt(t, pinDir)
		if err := p.AttachCPUPort(); err != nil {
			t.Fatalf("start %d: %v", start, err)
		}
		for _, h := range cpuHooks {
			info := bpftest.PinnedLink(t, pins.CPULinkPath(pinDir, h.name))
			if id := bpftest.ProgramID(t, h.prog(p)); info.Program != id {
				t.Errorf("start %d: %s runs program %d, not this start's %d", start, h.name, info.Program, id)
			}
		}
		p.Close()
	}
	if err := DetachCPUPort(pinDir); err != nil {
		t.Fatal(err)
	}
}
