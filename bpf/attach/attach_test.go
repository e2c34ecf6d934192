package attach

import (
	"errors"
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
	"github.com/cilium/ebpf/link"
	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/podint/podint/bpf"
	"github.com/podint/podint/bpf/attach/internal/bpfsys"
	"github.com/podint/podint/bpf/pins"
	"github.com/podint/podint/internal/bpftest"
	"github.com/podint/podint/internal/nstest"
)

// loaded are probes a test loaded into a private bpffs, with their pin dir.
type loaded struct {
	*bpf.Collection
	pinDir string
}

func loadForTest(t *testing.T) loaded {
	t.Helper()
	bpftest.RequireRoot(t)
	dir := bpftest.TempPinDir(t)
	p, err := bpf.Load(dir, bpf.DefaultSettings)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	return loaded{Collection: p, pinDir: dir}
}

// vethNS moves the test's goroutine, locked to its thread, into a fresh
// network namespace holding a veth pair and returns the ifindex of one
// side. The namespace and the veth go away when the test ends.
func vethNS(t *testing.T) int {
	t.Helper()
	bpftest.RequireRoot(t)
	nstest.EnterFresh(t)
	v := &netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: "probed0"}, PeerName: "peer0"}
	if err := netlink.LinkAdd(v); err != nil {
		t.Fatalf("add veth: %v", err)
	}
	l, err := netlink.LinkByName("probed0")
	if err != nil {
		t.Fatal(err)
	}
	return l.Attrs().Index
}

// rivalProgram is another agent's TC program: it passes every packet.
func rivalProgram(t *testing.T) *ebpf.Program {
	t.Helper()
	p, err := ebpf.NewProgram(&ebpf.ProgramSpec{
		Type:         ebpf.SchedCLS,
		License:      "MIT",
		Instructions: asm.Instructions{asm.Mov.Imm(asm.R0, 0), asm.Return()},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	return p
}

func tcxAttachType(h pins.Hook) ebpf.AttachType {
	if h.IsEgress() {
		return ebpf.AttachTCXEgress
	}
	return ebpf.AttachTCXIngress
}

func TestTCXProbeRunsBeforeProgramsAttachedEarlier(t *testing.T) {
	p := loadForTest(t)
	pinDir := p.pinDir
	ifindex := vethNS(t)
	{
		rival := rivalProgram(t)
		for _, at := range []ebpf.AttachType{ebpf.AttachTCXIngress, ebpf.AttachTCXEgress} {
			l, err := link.AttachTCX(link.TCXOptions{Interface: ifindex, Program: rival, Attach: at})
			if err != nil {
				t.Fatal(err)
			}
			defer l.Close()
		}
		mode, err := Attach(pinDir, "pod_eth0", ifindex, Options{})
		if err != nil || mode != TCX {
			t.Fatalf("Attach: mode %q, %v; want tcx", mode, err)
		}
		for _, d := range pins.HostHooks() {
			got := bpftest.TCXPrograms(t, ifindex, tcxAttachType(d))
			want := bpftest.ProgramID(t, p.Program(d))
			if len(got) != 2 || got[0] != want {
				t.Errorf("%s: programs %v, want the probe %d first", d, got, want)
			}
		}
		if err := Detach(pinDir, "pod_eth0", ifindex); err != nil {
			t.Fatal(err)
		}
		if got := bpftest.TCXPrograms(t, ifindex, ebpf.AttachTCXIngress); len(got) != 1 {
			t.Errorf("after Detach: ingress programs %v, want only the rival's", got)
		}

		if _, err := Attach(pinDir, "pod_eth0", ifindex, Options{Position: Last}); err != nil {
			t.Fatal(err)
		}
		got := bpftest.TCXPrograms(t, ifindex, ebpf.AttachTCXIngress)
		if len(got) != 2 || got[1] != bpftest.ProgramID(t, p.Program(pins.Ingress)) {
			t.Errorf("position last: programs %v, want the probe last", got)
		}
	}
}

func TestAttachTwiceReplacesTheProbe(t *testing.T) {
	p := loadForTest(t)
	ifindex := vethNS(t)
	{
		for _, mode := range []Mode{TCX, TC, TCX} {
			if _, err := Attach(p.pinDir, "pod_eth0", ifindex, Options{Mode: mode}); err != nil {
				t.Fatalf("%s: %v", mode, err)
			}
		}
		if got := bpftest.TCXPrograms(t, ifindex, ebpf.AttachTCXEgress); len(got) != 1 {
			t.Errorf("egress programs %v, want one probe", got)
		}
		if n := countTCFilters(t, ifindex, "pod_eth0"); n != 0 {
			t.Errorf("%d tc filters left by the earlier tc probe", n)
		}
	}
}

func countTCFilters(t *testing.T, ifindex int, probeID string) int {
	t.Helper()
	l, err := netlink.LinkByIndex(ifindex)
	if err != nil {
		t.Fatal(err)
	}
	fs, err := tcFilters(l, func(id string) bool { return id == probeID })
	if err != nil {
		t.Fatal(err)
	}
	return len(fs)
}

func TestTCProbeComesFirstAndLeavesOthersFiltersAlone(t *testing.T) {
	p := loadForTest(t)
	ifindex := vethNS(t)
	{
		// Another plugin's filter on the shared clsact, at the same priority.
		rival := rivalProgram(t)
		l, _ := netlink.LinkByIndex(ifindex)
		if err := ensureClsact(l); err != nil {
			t.Fatal(err)
		}
		rf := &netlink.BpfFilter{FilterAttrs: netlink.FilterAttrs{LinkIndex: ifindex, Parent: netlink.HANDLE_MIN_INGRESS,
			Priority: 1, Protocol: unix.ETH_P_ALL}, Fd: rival.FD(), Name: "rival", DirectAction: true}
		if err := netlink.FilterAdd(rf); err != nil {
			t.Fatal(err)
		}

		mode, err := Attach(p.pinDir, "pod_eth0", ifindex, Options{Mode: TC})
		if err != nil || mode != TC {
			t.Fatalf("Attach: mode %q, %v", mode, err)
		}
		if m, err := Verify(p.pinDir, "pod_eth0", ifindex); err != nil || m != TC {
			t.Fatalf("Verify: %q, %v", m, err)
		}
		fs, err := netlink.FilterList(l, netlink.HANDLE_MIN_INGRESS)
		if err != nil {
			t.Fatal(err)
		}
		// A dump lists filters in the order they classify.
		var names []string
		for _, f := range fs {
			if bf, ok := f.(*netlink.BpfFilter); ok && bf.Name != "" {
				names = append(names, fmt.Sprintf("%s@%d", bf.Name, bf.Priority))
			}
		}
		if len(names) != 2 || names[0] != "podint:pod_eth0@1" {
			t.Errorf("ingress filters %v, want podint's first at priority 1, then the rival's", names)
		}

		if err := Detach(p.pinDir, "pod_eth0", ifindex); err != nil {
			t.Fatal(err)
		}
		if n := countTCFilters(t, ifindex, "pod_eth0"); n != 0 {
			t.Errorf("%d podint filters left after Detach", n)
		}
		fs, _ = netlink.FilterList(l, netlink.HANDLE_MIN_INGRESS)
		rivalLeft := false
		for _, f := range fs {
			if bf, ok := f.(*netlink.BpfFilter); ok && bf.Name == "rival" {
				rivalLeft = true
			}
		}
		if !rivalLeft {
			t.Error("Detach removed the other plugin's filter")
		}
		if _, err := os.Stat(pins.LinkDir(p.pinDir, "pod_eth0")); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("probe pins remain after Detach: %v", err)
		}
	}
}

func TestAutoFallsBackToTCWithoutTCX(t *testing.T) {
	p := loadForTest(t)
	orig := attachTCXLink
	attachTCXLink = func(*bpfsys.FD, int, bool, bool) (*bpfsys.FD, error) {
		return nil, fmt.Errorf("attach tcx link: %w", bpfsys.ErrNoTCX)
	}
	t.Cleanup(func() { attachTCXLink = orig })
	ifindex := vethNS(t)
	{
		mode, err := Attach(p.pinDir, "pod_eth0", ifindex, Options{Mode: Auto})
		if err != nil || mode != TC {
			t.Fatalf("auto without TCX: mode %q, %v; want tc", mode, err)
		}
		if n := countTCFilters(t, ifindex, "pod_eth0"); n != 2 {
			t.Errorf("%d tc filters, want ingress and egress", n)
		}
		// Forced TCX does not fall back.
		if _, err := Attach(p.pinDir, "pod_eth1", ifindex, Options{Mode: TCX}); !errors.Is(err, bpfsys.ErrNoTCX) {
			t.Errorf("forced tcx without TCX: %v, want ErrNoTCX", err)
		}
		if ids, _ := AttachedProbes(p.pinDir); len(ids) != 1 {
			t.Errorf("pinned probes %v after a failed attach, want only pod_eth0", ids)
		}
	}
}

func TestDetachWithoutIfindexFindsTCFilters(t *testing.T) {
	p := loadForTest(t)
	ifindex := vethNS(t)
	{
		if _, err := Attach(p.pinDir, "pod_eth0", ifindex, Options{Mode: TC}); err != nil {
			t.Fatal(err)
		}
		if err := Detach(p.pinDir, "pod_eth0", 0); err != nil {
			t.Fatal(err)
		}
		if n := countTCFilters(t, ifindex, "pod_eth0"); n != 0 {
			t.Errorf("%d filters left after a Detach that had to search for them", n)
		}
		if err := Detach(p.pinDir, "pod_eth0", 0); err != nil {
			t.Errorf("second Detach: %v", err)
		}
	}
}

func TestVerifyNamesWhatIsMissing(t *testing.T) {
	p := loadForTest(t)
	ifindex := vethNS(t)
	{
		for _, mode := range []Mode{TCX, TC} {
			if _, err := Verify(p.pinDir, "pod_eth0", ifindex); err == nil {
				t.Fatalf("%s: Verify passed before Attach", mode)
			}
			if _, err := Attach(p.pinDir, "pod_eth0", ifindex, Options{Mode: mode}); err != nil {
				t.Fatal(err)
			}
			if _, err := Verify(p.pinDir, "pod_eth0", ifindex+1000); err == nil {
				t.Errorf("%s: Verify passed for another interface", mode)
			}
			if mode == TC {
				// Someone removes the egress filter behind podint's back.
				_ = detachTCDirection(t, ifindex, pins.Egress)
			} else {
				_ = os.Remove(pins.LinkDir(p.pinDir, "pod_eth0") + "/egress")
			}
			_, err := Verify(p.pinDir, "pod_eth0", ifindex)
			if err == nil || !strings.Contains(err.Error(), "egress") {
				t.Errorf("%s: Verify with the egress hook gone: %v, want an error naming egress", mode, err)
			}
			if err := Detach(p.pinDir, "pod_eth0", ifindex); err != nil {
				t.Fatal(err)
			}
		}
	}
}

func detachTCDirection(t *testing.T, ifindex int, direction pins.Hook) error {
	t.Helper()
	l, _ := netlink.LinkByIndex(ifindex)
	fs, err := tcFilters(l, func(id string) bool { return id == "pod_eth0" })
	if err != nil {
		t.Fatal(err)
	}
	for _, pf := range fs {
		if pf.direction == direction {
			a := pf.filter.FilterAttrs
			a.Parent = tcParent(direction)
			if err := netlink.FilterDel(&netlink.BpfFilter{FilterAttrs: a, Fd: -1}); err != nil {
				t.Fatal(err)
			}
		}
	}
	return nil
}

func TestTCRefusesAnIngressQdisc(t *testing.T) {
	p := loadForTest(t)
	ifindex := vethNS(t)
	{
		// What the bandwidth plugin adds for an egress limit.
		q := &netlink.Ingress{QdiscAttrs: netlink.QdiscAttrs{LinkIndex: ifindex,
			Handle: netlink.MakeHandle(0xffff, 0), Parent: netlink.HANDLE_INGRESS}}
		if err := netlink.QdiscAdd(q); err != nil {
			t.Fatal(err)
		}
		_, err := Attach(p.pinDir, "pod_eth0", ifindex, Options{Mode: TC})
		if err == nil || !strings.Contains(err.Error(), "ingress qdisc") {
			t.Fatalf("Attach over an ingress qdisc: %v, want an error naming it", err)
		}
		ids, _ := AttachedProbes(p.pinDir)
		staged, _ := StagedProbes(p.pinDir)
		if len(ids)+len(staged) != 0 {
			t.Errorf("pins %v and staged %v left by the failed attach", ids, staged)
		}
		// TCX runs before any qdisc and does not care.
		if _, err := Attach(p.pinDir, "pod_eth0", ifindex, Options{}); err != nil {
			t.Errorf("auto over an ingress qdisc: %v", err)
		}
	}
}

func TestOptionsRejectUnknownValues(t *testing.T) {
	for _, o := range []Options{{Mode: "xdp"}, {Position: "middle"}} {
		if _, err := o.withDefaults(); err == nil {
			t.Errorf("%+v accepted", o)
		}
	}
	if o, err := (Options{}).withDefaults(); err != nil || o.Mode != Auto || o.Position != First {
		t.Errorf("defaults: %+v, %v", o, err)
	}
}

func TestDetachRemovesAHalfDoneAttach(t *testing.T) {
	p := loadForTest(t)
	ifindex := vethNS(t)
	// What a plugin killed between its two hooks leaves: one TCX link,
	// pinned in the staging dir.
	progs, err := openPrograms(p.pinDir)
	if err != nil {
		t.Fatal(err)
	}
	defer progs.close()
	stage := pins.StagingDir(p.pinDir, "pod_eth0")
	if err := os.MkdirAll(stage, 0o700); err != nil {
		t.Fatal(err)
	}
	l, err := bpfsys.AttachTCX(progs[pins.Ingress], ifindex, false, false)
	if err != nil {
		t.Fatal(err)
	}
	if err := l.Pin(stage + "/ingress"); err != nil {
		t.Fatal(err)
	}
	l.Close()
	if ids, _ := AttachedProbes(p.pinDir); len(ids) != 0 {
		t.Errorf("a half-done probe is listed as attached: %v", ids)
	}
	if ids, _ := StagedProbes(p.pinDir); len(ids) != 1 || ids[0] != "pod_eth0" {
		t.Errorf("staged probes %v, want pod_eth0", ids)
	}
	if err := Detach(p.pinDir, "pod_eth0", 0); err != nil {
		t.Fatal(err)
	}
	if got := bpftest.TCXPrograms(t, ifindex, ebpf.AttachTCXIngress); len(got) != 0 {
		t.Errorf("programs %v left on the hook", got)
	}
	if ids, _ := StagedProbes(p.pinDir); len(ids) != 0 {
		t.Errorf("staged probes %v left", ids)
	}
}
