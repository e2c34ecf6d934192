package e2e

import (
	"path/filepath"
	"syscall"
	"testing"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/link"
	"github.com/vishvananda/netlink"

	"github.com/podint/podint/bpf/attach"
	"github.com/podint/podint/bpf/pins"
	"github.com/podint/podint/internal/bpftest"
	"github.com/podint/podint/internal/intreport"
	"github.com/podint/podint/test/harness"
)

// hookState is what runs in one direction of a probe: the program, and
// for TCX the link holding it.
type hookState struct {
	linkID link.ID // TCX only
	progID ebpf.ProgramID
}

// probeHooks reads what the probe of p runs, by direction.
func probeHooks(t *testing.T, n *harness.Node, p *harness.Pod, mode attach.Mode) map[pins.Hook]hookState {
	t.Helper()
	out := map[pins.Hook]hookState{}
	dir := pins.LinkDir(n.Paths.PinDir, podProbeID(p))
	if mode == attach.TCX {
		for _, d := range pins.HostHooks() {
			info := bpftest.PinnedLink(t, filepath.Join(dir, string(d)))
			out[d] = hookState{linkID: info.ID, progID: info.Program}
		}
		return out
	}
	err := n.NS.Do(func() error {
		l, err := netlink.LinkByIndex(vethIndex(t, p))
		if err != nil {
			return err
		}
		for d, parent := range map[pins.Hook]uint32{pins.Ingress: netlink.HANDLE_MIN_INGRESS, pins.Egress: netlink.HANDLE_MIN_EGRESS} {
			fs, err := netlink.FilterList(l, parent)
			if err != nil {
				return err
			}
			for _, f := range fs {
				if bf, ok := f.(*netlink.BpfFilter); ok && bf.Name == "podint:"+podProbeID(p) {
					out[d] = hookState{progID: ebpf.ProgramID(bf.Id)}
				}
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// pinnedProgramID is the id of the program the daemon pinned for direction.
func pinnedProgramID(t *testing.T, n *harness.Node, direction pins.Hook) ebpf.ProgramID {
	t.Helper()
	return bpftest.PinnedProgramID(t, pins.ProgramPath(n.Paths.PinDir, direction))
}

// A restarted (or upgraded) daemon loads its own programs and puts them
// into every probe's hooks in place: TCX links keep their identity, tc
// filters their place, no hook is ever empty, nothing is doubled, and the
// probes go on reporting.
func TestRestartUpdatesProbesInPlace(t *testing.T) {
	for _, mode := range []attach.Mode{attach.TCX, attach.TC} {
		t.Run(string(mode), func(t *testing.T) {
			n := startNode(t, harness.NodeConfig{PodintConf: map[string]any{"attachMode": mode}})
			ctx := testContext(t)
			a, b := addPod(t, n.Node, "a"), addPod(t, n.Node, "b")
			before := probeHooks(t, n.Node, a, mode)
			if before["ingress"].progID != pinnedProgramID(t, n.Node, "ingress") {
				t.Fatalf("before the restart the probe runs program %d, the daemon pinned %d",
					before["ingress"].progID, pinnedProgramID(t, n.Node, "ingress"))
			}

			if err := n.StopDaemon(syscall.SIGTERM); err != nil {
				t.Fatal(err)
			}
			if err := n.StartDaemon(ctx); err != nil {
				t.Fatal(err)
			}

			after := probeHooks(t, n.Node, a, mode)
			for _, d := range pins.HostHooks() {
				newProg := pinnedProgramID(t, n.Node, d)
				if newProg == before[d].progID {
					t.Fatalf("%s: the restarted daemon pinned the same program %d; it must load its own", d, newProg)
				}
				if after[d].progID != newProg {
					t.Errorf("%s hook runs program %d after the restart, want the new daemon's %d (was %d)",
						d, after[d].progID, newProg, before[d].progID)
				}
				if mode == attach.TCX && after[d].linkID != before[d].linkID {
					t.Errorf("%s TCX link %d replaced by %d: it must be updated in place, never detached",
						d, before[d].linkID, after[d].linkID)
				}
			}
			expectProbe(t, n.Node, a, vethIndex(t, a), mode)
			ia := vethIndex(t, a)
			if err := n.NS.Do(func() error { _, err := attach.Verify(n.Paths.PinDir, podProbeID(a), ia); return err }); err != nil {
				t.Errorf("probe pins disagree with the hooks after the update: %v", err)
			}
			if got := counter(t, ctx, n.Node, "probes_adopted"); got != 2 {
				t.Errorf("probes_adopted %d, want 2", got)
			}
			sport := echoTCP(t, a, b, 7071)
			expectFlowReport(t, ctx, n.Collector, intreport.ProtoTCP, a.IP, b.IP, sport, 7071, vethIndex(t, a), vethIndex(t, b))
		})
	}
}
