package e2e

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/containernetworking/cni/pkg/types"
	"github.com/vishvananda/netlink"

	"github.com/podint/podint/bpf/attach"
	"github.com/podint/podint/bpf/pins"
	podintv1 "github.com/podint/podint/proto/podint/v1"
	"github.com/podint/podint/test/harness"
)

// GC removes the probes of attachments the runtime no longer holds — pins,
// hooks on veths that still exist, pending and daemon registrations, with
// or without pins — reads
// both spellings of the valid list, and leaves the daemon's uplink probes.
func TestGCRemovesOnlyStaleProbes(t *testing.T) {
	for _, mode := range []attach.Mode{attach.TCX, attach.TC} {
		t.Run(string(mode), func(t *testing.T) {
			n := startNode(t, harness.NodeConfig{PodintConf: map[string]any{"attachMode": mode}})
			ctx := testContext(t)
			a, b, c, d := addPod(t, n.Node, "a"), addPod(t, n.Node, "b"), addPod(t, n.Node, "c"), addPod(t, n.Node, "d")
			uplink := attachUplinkProbe(t, n.Node, mode)

			// Leftovers of pods the runtime forgot while podint was not told:
			// a registration whose probe is gone, a pending registration.
			dIndex := vethIndex(t, d)
			if err := n.NS.Do(func() error { return attach.Detach(n.Paths.PinDir, podProbeID(d), dIndex) }); err != nil {
				t.Fatal(err)
			}
			if got := registeredContainers(t, n.Node); len(got) != 4 {
				t.Fatalf("registrations before GC: %v, want all four pods'", got)
			}
			pending := filepath.Join(n.Paths.PendingDir, pins.ProbeID("ghost2", "eth0")+".json")
			if err := os.MkdirAll(filepath.Dir(pending), 0o700); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(pending, []byte(`{}`), 0o600); err != nil {
				t.Fatal(err)
			}

			// GC with the list under its misspelt name only: c is stale.
			ic := vethIndex(t, c)
			runGC(t, n.Node, "cni.dev/attachments", a, b)
			expectNoProbe(t, n.Node, c, ic)
			for _, p := range []*harness.Pod{a, b} {
				expectProbe(t, n.Node, p, vethIndex(t, p), mode)
			}
			if got := registeredContainers(t, n.Node); !slices.Equal(got, sorted(a.ContainerID, b.ContainerID)) {
				t.Errorf("registrations after GC: %v, want only a's and b's (c's and the probe-less d's removed)", got)
			}
			if _, err := os.Stat(pending); !os.IsNotExist(err) {
				t.Errorf("stale pending registration remains (%v)", err)
			}

			// Under its correct name: b is stale too.
			runGC(t, n.Node, "cni.dev/valid-attachments", a)
			expectNoProbe(t, n.Node, b, vethIndex(t, b))
			expectProbe(t, n.Node, a, vethIndex(t, a), mode)

			// The runtime's way, through libcni.
			if err := n.CNIGC(ctx, []types.GCAttachment{a.Attachment()}); err != nil {
				t.Errorf("libcni GC: %v", err)
			}
			expectProbe(t, n.Node, a, vethIndex(t, a), mode)
			if ids, _ := attach.AttachedProbes(n.Paths.PinDir); !slices.Contains(ids, uplink) {
				t.Errorf("GC removed the uplink probe: pinned %v", ids)
			}
		})
	}
}

// runGC calls podint's GC with the valid list under key.
func runGC(t *testing.T, n *harness.Node, key string, valid ...*harness.Pod) {
	t.Helper()
	var list []types.GCAttachment
	for _, p := range valid {
		list = append(list, p.Attachment())
	}
	b, _ := json.Marshal(list)
	conf := podintConf(n, "1.1.0", `,"`+key+`":`+string(b), nil)
	out, err := n.ExecPlugin(testContext(t), "podint", harness.PluginCall{Command: "GC", Stdin: conf})
	if err != nil || out.ExitCode != 0 {
		t.Fatalf("GC: %v, exit %d: %s %s", err, out.ExitCode, out.Stdout, out.Stderr)
	}
}

// attachUplinkProbe hooks a probe to a fabric-facing veth of the node, as
// the daemon does for its uplinks, and returns its id.
func attachUplinkProbe(t *testing.T, n *harness.Node, mode attach.Mode) string {
	t.Helper()
	id := pins.UplinkProbeID("fab0")
	err := n.NS.Do(func() error {
		if err := netlink.LinkAdd(&netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: "fab0"}, PeerName: "fab0p"}); err != nil {
			return err
		}
		l, err := netlink.LinkByName("fab0")
		if err != nil {
			return err
		}
		_, err = attach.Attach(n.Paths.PinDir, id, l.Attrs().Index, attach.Options{Mode: mode})
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return id
}

func registeredContainers(t *testing.T, n *harness.Node) []string {
	t.Helper()
	c, closeFn, err := n.Client()
	if err != nil {
		t.Fatal(err)
	}
	defer closeFn()
	var ids []string
	for _, p := range listProbes(t, testContext(t), c) {
		if p.GetKind() == podintv1.PortKind_PORT_KIND_POD {
			ids = append(ids, p.GetPod().GetContainerId())
		}
	}
	slices.Sort(ids)
	return ids
}

func sorted(s ...string) []string { slices.Sort(s); return s }
