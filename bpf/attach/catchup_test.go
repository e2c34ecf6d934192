package attach

import (
	"path/filepath"
	"testing"

	"github.com/cilium/ebpf"
	"github.com/vishvananda/netlink"

	"github.com/podint/podint/bpf"
	"github.com/podint/podint/bpf/pins"
	"github.com/podint/podint/internal/bpftest"
)

func tcProgram(t *testing.T, ifindex int, probeID string, h pins.Hook) ebpf.ProgramID {
	t.Helper()
	l, err := netlink.LinkByIndex(ifindex)
	if err != nil {
		t.Fatal(err)
	}
	found, err := tcFilters(l, func(id string) bool { return id == probeID })
	if err != nil {
		t.Fatal(err)
	}
	for _, pf := range found {
		if pf.direction == h {
			return ebpf.ProgramID(pf.filter.Id)
		}
	}
	t.Fatalf("no %s filter of probe %s", h, probeID)
	return 0
}

func linkProgram(t *testing.T, pinDir, probeID string, h pins.Hook) uint32 {
	t.Helper()
	return uint32(bpftest.PinnedLink(t, filepath.Join(pins.LinkDir(pinDir, probeID), string(h))).Program)
}

// An ADD that attached the programs pinned before a daemon pinned newer
// ones, and whose pins moved into place too late for the daemon to see,
// moves its probe to the new programs itself.
func TestAttachCatchesUpWithProgramsPinnedMeanwhile(t *testing.T) {
	for _, mode := range []Mode{TCX, TC} {
		t.Run(string(mode), func(t *testing.T) {
			l := loadForTest(t)
			ifindex := vethNS(t)
			seen := statProgramPins(l.pinDir)
			older, err := openPrograms(l.pinDir)
			if err != nil {
				t.Fatal(err)
			}
			defer older.close()
			// The daemon starts meanwhile: it pins its own programs.
			newer, err := bpf.Load(l.pinDir, bpf.DefaultSettings)
			if err != nil {
				t.Fatal(err)
			}
			defer newer.Close()
			// The ADD attached the programs it had opened before.
			if _, err := Attach(l.pinDir, "late", ifindex, Options{Mode: mode}); err != nil {
				t.Fatal(err)
			}
			if _, err := Update(l.pinDir, "late", ifindex, func(h pins.Hook) int { return older[h].Int() }); err != nil {
				t.Fatal(err)
			}
			if err := catchUp(l.pinDir, "late", ifindex, seen, nil); err != nil {
				t.Fatal(err)
			}
			for _, h := range pins.HostHooks() {
				want := bpftest.ProgramID(t, newer.Program(h))
				var got ebpf.ProgramID
				if mode == TCX {
					got = ebpf.ProgramID(linkProgram(t, l.pinDir, "late", h))
				} else {
					got = tcProgram(t, ifindex, "late", h)
				}
				if got != want {
					t.Errorf("%s runs program %d after the catch-up, want the one pinned now, %d", h, got, want)
				}
			}
		})
	}
}
