package e2e

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"

	"github.com/cilium/ebpf"

	"github.com/podint/podint/bpf/attach"
	"github.com/podint/podint/bpf/pins"
	"github.com/podint/podint/internal/bpftest"
	"github.com/podint/podint/internal/intreport"
	"github.com/podint/podint/test/harness"
)

// programMaps lists the maps program id uses.
func programMaps(t *testing.T, id ebpf.ProgramID) []ebpf.MapID {
	t.Helper()
	prog, err := ebpf.NewProgramFromID(id)
	if err != nil {
		t.Fatal(err)
	}
	defer prog.Close()
	info, err := prog.Info()
	if err != nil {
		t.Fatal(err)
	}
	ids, _ := info.MapIDs()
	return ids
}

// linkPrograms are the programs the node-wide links (drop probe, CPU port)
// run.
func linkPrograms(t *testing.T, pinDir string) map[string]ebpf.ProgramID {
	t.Helper()
	out := map[string]ebpf.ProgramID{}
	ents, err := os.ReadDir(pinDir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ents {
		if !strings.HasSuffix(e.Name(), "_link") {
			continue
		}
		out[e.Name()] = bpftest.PinnedLink(t, filepath.Join(pinDir, e.Name())).Program
	}
	return out
}

func plantMap(t *testing.T, path string, spec *ebpf.MapSpec) ebpf.MapID {
	t.Helper()
	m, err := ebpf.NewMap(spec)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	if err := pins.Replace(path, m.Pin); err != nil {
		t.Fatal(err)
	}
	return bpftest.PinnedMapID(t, path)
}

// An upgrade over pinned maps of an older layout (a flow table and a
// pod_ports map of other sizes, a map this version no longer has) starts:
// it replaces them, removes the unused pin, moves every probe of the pods
// attached before, the uplink's, the drop probe and the CPU port to
// programs using the new maps, writes the pod_ports entries again, and
// the probes report through them. What it lost is counted.
func TestUpgradeReplacesPinnedMapsOfAnOlderLayout(t *testing.T) {
	for _, mode := range []attach.Mode{attach.TCX, attach.TC} {
		t.Run(string(mode), func(t *testing.T) {
			n := startNode(t, harness.NodeConfig{PodintConf: map[string]any{"attachMode": mode}})
			ctx := testContext(t)
			a, b := addPod(t, n.Node, "a"), addPod(t, n.Node, "b")
			sport := echoTCP(t, a, b, 7072)
			expectFlowReport(t, ctx, n.Collector, intreport.ProtoTCP, a.IP, b.IP, sport, 7072, vethIndex(t, a), vethIndex(t, b))
			if err := n.StopDaemon(syscall.SIGTERM); err != nil {
				t.Fatal(err)
			}

			pinDir := n.Paths.PinDir
			oldFlows := bpftest.PinnedMapID(t, pins.MapPath(pinDir, "flow_entries"))
			planted := []ebpf.MapID{
				plantMap(t, pins.MapPath(pinDir, "flow_sets"), &ebpf.MapSpec{Type: ebpf.Array, KeySize: 4, ValueSize: 32, MaxEntries: 1024}),
				plantMap(t, pins.MapPath(pinDir, "pod_ports"), &ebpf.MapSpec{Type: ebpf.Hash, KeySize: 16, ValueSize: 4, MaxEntries: 8}),
			}
			// A map of another version, under a name this version does
			// not have.
			unused := pins.MapPath(pinDir, "flow_table")
			plantMap(t, unused, &ebpf.MapSpec{Type: ebpf.Array, KeySize: 4, ValueSize: 8, MaxEntries: 4})
			if m, err := ebpf.LoadPinnedMap(unused, nil); err != nil {
				t.Fatal(err)
			} else {
				err = m.Put(uint32(1), uint64(1))
				m.Close()
				if err != nil {
					t.Fatal(err)
				}
			}
			if err := n.StartDaemon(ctx); err != nil {
				t.Fatal(err)
			}

			for _, name := range []string{"flow_sets", "pod_ports"} {
				if id := bpftest.PinnedMapID(t, pins.MapPath(pinDir, name)); slices.Contains(planted, id) {
					t.Errorf("%s: the older layout's map %d is still pinned", name, id)
				}
			}
			if _, err := os.Stat(unused); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("the pin of a map no program uses is still there: %v", err)
			}
			newSets := bpftest.PinnedMapID(t, pins.MapPath(pinDir, "flow_sets"))
			pinnedEgress := pinnedProgramID(t, n.Node, pins.Egress)
			if !slices.Contains(programMaps(t, pinnedEgress), newSets) {
				t.Fatalf("the pinned egress program does not use the pinned flow_sets %d", newSets)
			}
			// Every hook runs a program of the new maps: none uses the
			// flow table of before.
			hooked := map[string]ebpf.ProgramID{}
			for _, p := range []*harness.Pod{a, b} {
				for h, st := range probeHooks(t, n.Node, p, mode) {
					hooked[p.Name+" "+string(h)] = st.progID
					if st.progID != pinnedProgramID(t, n.Node, h) {
						t.Errorf("pod %s %s hook runs program %d, not the pinned %d", p.Name, h, st.progID, pinnedProgramID(t, n.Node, h))
					}
				}
			}
			for name, id := range linkPrograms(t, pinDir) {
				hooked[name] = id
			}
			for what, id := range hooked {
				if slices.Contains(programMaps(t, id), oldFlows) {
					t.Errorf("%s runs program %d, which still uses the replaced flow table %d", what, id, oldFlows)
				}
			}
			if mode == attach.TCX {
				ports, err := attach.PodPorts(pinDir)
				if err != nil {
					t.Fatal(err)
				}
				if !slices.ContainsFunc(ports, func(p attach.PodPort) bool { return p.HostIfindex == vethIndex(t, a) }) {
					t.Errorf("the new pod_ports map lacks pod a's host port: %+v", ports)
				}
			}
			if got := counter(t, ctx, n.Node, "upgrade_maps_replaced"); got != 4 {
				t.Errorf("upgrade_maps_replaced %d, want 4 (flow_sets, flow_entries, probe_settings, pod_ports)", got)
			}
			if got := counter(t, ctx, n.Node, "upgrade_flows_forgotten"); got == 0 {
				t.Error("upgrade_flows_forgotten is 0: the flow reported before the upgrade was in the replaced table")
			}
			if got := counter(t, ctx, n.Node, "upgrade_pod_ports_lost"); got != 0 {
				t.Errorf("upgrade_pod_ports_lost %d, want 0", got)
			}
			log, _ := os.ReadFile(n.LogPath)
			if !strings.Contains(string(log), "a pinned map of an older layout is replaced") {
				t.Error("the daemon did not log what it replaced")
			}
			sport = echoTCP(t, a, b, 7073)
			expectFlowReport(t, ctx, n.Collector, intreport.ProtoTCP, a.IP, b.IP, sport, 7073, vethIndex(t, a), vethIndex(t, b))
		})
	}
}
