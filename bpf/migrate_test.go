package bpf

import (
	"errors"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/ringbuf"
	"golang.org/x/sys/unix"

	"github.com/podint/podint/bpf/pins"
	"github.com/podint/podint/internal/bpftest"
)

// sendOne runs one packet of a new flow through p's probes: it writes one
// event and one flow.
func sendOne(t *testing.T, p *Collection) {
	t.Helper()
	frame := packetCases(t)[0].frame
	runProbe(t, p.Program(pins.Ingress), frame)
	runProbe(t, p.Program(pins.Egress), frame)
}

func pinnedMapID(t *testing.T, pinDir, name string) ebpf.MapID {
	t.Helper()
	return bpftest.PinnedMapID(t, pins.MapPath(pinDir, name))
}

func mapID(t *testing.T, m *ebpf.Map) ebpf.MapID {
	t.Helper()
	info, err := m.Info()
	if err != nil {
		t.Fatal(err)
	}
	id, _ := info.ID()
	return id
}

func replacedNames(m *Migration) []string {
	var out []string
	for _, r := range m.Replaced {
		out = append(out, r.Name)
	}
	slices.Sort(out)
	return out
}

func loadAt(t *testing.T, pinDir string) *Collection {
	t.Helper()
	p, err := Load(pinDir, DefaultSettings)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	return p
}

// A pinned map of another size (an older version's flow table) is replaced
// with the maps that depend on it; the other pins, the ring buffer with its
// unread event among them, are kept.
func TestLoadReplacesAnIncompatiblePinnedMap(t *testing.T) {
	requireRoot(t)
	pinDir := bpftest.TempPinDir(t)
	old := loadAt(t, pinDir)
	sendOne(t, old)
	old.Close()
	ringID, countersID := pinnedMapID(t, pinDir, "events"), pinnedMapID(t, pinDir, "counters")
	planted, err := ebpf.NewMap(&ebpf.MapSpec{Type: ebpf.Array, KeySize: 4, ValueSize: 32, MaxEntries: 1024})
	if err != nil {
		t.Fatal(err)
	}
	defer planted.Close()
	if err := pins.Replace(pins.MapPath(pinDir, "flow_sets"), planted.Pin); err != nil {
		t.Fatal(err)
	}
	// Maps of another version, under names this version does not have.
	for _, name := range []string{"flow_table", "flows_v0"} {
		unused, err := ebpf.NewMap(&ebpf.MapSpec{Type: ebpf.Array, KeySize: 4, ValueSize: 8, MaxEntries: 4})
		if err != nil {
			t.Fatal(err)
		}
		defer unused.Close()
		if err := unused.Put(uint32(2), uint64(7)); err != nil {
			t.Fatal(err)
		}
		if err := unused.Pin(pins.MapPath(pinDir, name)); err != nil {
			t.Fatal(err)
		}
	}

	p := loadAt(t, pinDir)
	mig := p.Migration()
	if got, want := replacedNames(mig), []string{"flow_entries", "flow_sets", "probe_settings"}; !slices.Equal(got, want) {
		t.Fatalf("replaced %v, want %v", got, want)
	}
	for _, r := range mig.Replaced {
		if r.Name == "flow_sets" && !strings.Contains(r.Why, "MaxEntries") {
			t.Errorf("flow_sets replaced because %q; want its size named", r.Why)
		}
		if r.Name == "flow_entries" && r.InUse != 1 {
			t.Errorf("the replaced flow_entries held %d flows, want the 1 sent", r.InUse)
		}
	}
	if id := pinnedMapID(t, pinDir, "flow_sets"); id != mapID(t, p.Flows()) || id == mapID(t, planted) {
		t.Errorf("pinned flow_sets is map %d; the probes use %d, the planted one was %d", id, mapID(t, p.Flows()), mapID(t, planted))
	}
	if pinnedMapID(t, pinDir, "events") != ringID || pinnedMapID(t, pinDir, "counters") != countersID {
		t.Error("compatible maps were replaced: the ring buffer and the counters must be kept")
	}
	for _, name := range []string{"flow_table", "flows_v0"} {
		if _, err := os.Stat(pins.MapPath(pinDir, name)); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("the pin of %s, which no program uses, is still there: %v", name, err)
		}
	}
	if len(mig.Removed) != 2 || mig.Removed[0].InUse != 1 {
		t.Errorf("removed %+v, want the two unused maps, one entry in use each", mig.Removed)
	}
	rd, err := ringbuf.NewReader(p.Events())
	if err != nil {
		t.Fatal(err)
	}
	defer rd.Close()
	if evs := drain(t, rd); len(evs) != 1 {
		t.Fatalf("%d events kept in the ring buffer, want the 1 written before the upgrade", len(evs))
	}
	// The flow state is lost: the same flow reports as new once more.
	sendOne(t, p)
	evs := drain(t, rd)
	if len(evs) != 1 || evs[0].Cause&CauseNewFlow == 0 {
		t.Fatalf("after the upgrade the flow reported %+v, want one new-flow event", evs)
	}

	// The next start finds everything as it pinned it.
	p.Close()
	if again := loadAt(t, pinDir); len(again.Migration().Replaced) != 0 {
		t.Errorf("a restart of the same version replaced %v", replacedNames(again.Migration()))
	}
}

// A map whose fields changed but not its size passes the kernel's check;
// the recorded layout catches it. A ring buffer whose records changed is
// replaced, and its unread events are undecodable: counted, not drained.
func TestLoadReplacesAMapWhoseLayoutChangedAtTheSameSize(t *testing.T) {
	requireRoot(t)
	pinDir := bpftest.TempPinDir(t)
	old := loadAt(t, pinDir)
	sendOne(t, old)
	old.Close()
	layouts, err := readLayouts(pinDir)
	if err != nil || len(layouts) == 0 {
		t.Fatalf("no layout recorded: %v", err)
	}
	for _, name := range []string{"drops", "events"} {
		h := layouts[name]
		h[0] ^= 1
		layouts[name] = h
	}
	if err := writeLayouts(pinDir, layouts); err != nil {
		t.Fatal(err)
	}
	p := loadAt(t, pinDir)
	mig := p.Migration()
	if got, want := replacedNames(mig), []string{"drops", "events"}; !slices.Equal(got, want) {
		t.Fatalf("replaced %v, want %v", got, want)
	}
	if !mig.Undecodable || mig.OldEvents() != nil {
		t.Error("a ring buffer of another record layout must not be drained")
	}
	for _, r := range mig.Replaced {
		if r.Name == "events" && r.UnreadBytes <= 0 {
			t.Errorf("the replaced ring buffer's unread bytes are %d, want the event written before", r.UnreadBytes)
		}
	}
}

// A ring buffer of another size whose records read as this version's is
// replaced, and its unread events are handed over for draining.
func TestLoadHandsOverAReplacedRingBufferToDrain(t *testing.T) {
	requireRoot(t)
	pinDir := bpftest.TempPinDir(t)
	loadAt(t, pinDir).Close() // the pin directory's layout
	for _, name := range []string{"events"} {
		if err := os.Remove(pins.MapPath(pinDir, name)); err != nil {
			t.Fatal(err)
		}
	}
	// The older version: the same programs with a ring buffer twice as large.
	spec, err := loadProbe()
	if err != nil {
		t.Fatal(err)
	}
	spec.Maps["events"].MaxEntries *= 2
	var objs probeObjects
	if err := spec.LoadAndAssign(&objs, &ebpf.CollectionOptions{Maps: ebpf.MapOptions{PinPath: pins.MapsDir(pinDir)}}); err != nil {
		t.Fatal(err)
	}
	frame := packetCases(t)[0].frame
	runProbe(t, objs.PodintIngress, frame)
	runProbe(t, objs.PodintEgress, frame)
	objs.Close()

	p := loadAt(t, pinDir)
	mig := p.Migration()
	if got := replacedNames(mig); !slices.Equal(got, []string{"events"}) {
		t.Fatalf("replaced %v, want the ring buffer", got)
	}
	if mig.OldEvents() == nil || mig.Undecodable {
		t.Fatal("the replaced ring buffer's events read as this version's: they must be handed over")
	}
	rd, err := ringbuf.NewReader(mig.OldEvents())
	if err != nil {
		t.Fatal(err)
	}
	defer rd.Close()
	if evs := drain(t, rd); len(evs) != 1 {
		t.Fatalf("%d events in the replaced ring buffer, want the 1 written before the upgrade", len(evs))
	}
}

// A pinned map that cannot be replaced (a bpffs mounted read-only) fails
// the start, naming the path and what to do.
func TestLoadFailsClearlyWhenAPinCannotBeReplaced(t *testing.T) {
	requireRoot(t)
	pinDir := bpftest.TempPinDir(t)
	loadAt(t, pinDir).Close()
	planted, err := ebpf.NewMap(&ebpf.MapSpec{Type: ebpf.Hash, KeySize: 4, ValueSize: 4, MaxEntries: 8})
	if err != nil {
		t.Fatal(err)
	}
	defer planted.Close()
	if err := pins.Replace(pins.MapPath(pinDir, "ports"), planted.Pin); err != nil {
		t.Fatal(err)
	}
	mnt := strings.TrimSuffix(pinDir, "/podint")
	if err := unix.Mount("", mnt, "", unix.MS_REMOUNT|unix.MS_RDONLY, ""); err != nil {
		t.Fatal(err)
	}
	_, err = Load(pinDir, DefaultSettings)
	if err == nil {
		t.Fatal("loaded over a pinned map it could not replace")
	}
	if msg := err.Error(); !strings.Contains(msg, pins.MapsDir(pinDir)+"/") || !strings.Contains(msg, "write access to "+pins.MapsDir(pinDir)) {
		t.Errorf("error %q must name the pin and the fix", msg)
	}
}
