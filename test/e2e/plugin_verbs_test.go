package e2e

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"

	"github.com/containernetworking/cni/pkg/types"
	"github.com/containernetworking/cni/pkg/version"

	"github.com/podint/podint/bpf/attach"
	"github.com/podint/podint/plugin"
	"github.com/podint/podint/test/harness"
)

// Every verb through libcni with the real reference plugins, in every spec
// version podint supports and in both attach modes.
func TestPluginVerbsInEverySpecVersion(t *testing.T) {
	for _, mode := range []attach.Mode{attach.TCX, attach.TC} {
		t.Run(string(mode), func(t *testing.T) {
			n := startNode(t, harness.NodeConfig{PodintConf: map[string]any{"attachMode": mode}})
			ctx := testContext(t)
			for _, v := range plugin.SupportedVersions.SupportedVersions() {
				t.Run(v, func(t *testing.T) {
					if err := n.UseCNIVersion(v); err != nil {
						t.Fatal(err)
					}
					p := addPod(t, n.Node, "v"+strings.ReplaceAll(v, ".", ""))
					ifindex := vethIndex(t, p)
					expectProbe(t, n.Node, p, ifindex, mode)

					// The chain's result is the bridge's: veth, bridge and the pod's address.
					if len(p.Result.Interfaces) != 3 || !p.IP.IsValid() {
						t.Errorf("chain result %v, want the bridge's three interfaces and an address", p.Result)
					}
					reg := registration(t, ctx, n.Node, p)
					if reg == nil {
						t.Fatal("podintd holds no registration of the pod")
					}
					pod := reg.GetPod()
					if reg.GetAttachMode() != string(mode) || int(reg.GetIfindex()) != ifindex ||
						pod.GetNamespace() != "default" || pod.GetName() != p.Name || pod.GetUid() != p.UID ||
						len(pod.GetIps()) != 1 || pod.GetIps()[0].GetSubnet() != "10.22.0.0/24" ||
						!strings.HasPrefix(pod.GetIps()[0].GetAddress(), p.IP.String()+"/") {
						t.Errorf("registration %v, want mode %s, ifindex %d, pod default/%s uid %s with %s in 10.22.0.0/24",
							reg, mode, ifindex, p.Name, p.UID, p.IP)
					}

					if ok, _ := version.GreaterThanOrEqualTo(v, "0.4.0"); ok {
						if err := n.CNICheck(ctx, p); err != nil {
							t.Errorf("CHECK: %v", err)
						}
					}
					if err := n.CNIStatus(ctx); err != nil {
						t.Errorf("STATUS: %v", err)
					}
					// GC with the pod still valid keeps its probe.
					if err := n.CNIGC(ctx, []types.GCAttachment{p.Attachment()}); err != nil {
						t.Errorf("GC: %v", err)
					}
					expectProbe(t, n.Node, p, ifindex, mode)
					expectVersionInfo(t, n.Node, v)

					// podint's DEL alone while the veth exists, then the chain's, twice.
					if err := n.CNIDelPlugin(ctx, p, "podint"); err != nil {
						t.Fatal(err)
					}
					expectNoProbe(t, n.Node, p, ifindex)
					if reg := registration(t, ctx, n.Node, p); reg != nil {
						t.Errorf("registration remains after DEL: %v", reg)
					}
					for i := 0; i < 2; i++ {
						if err := n.CNIDel(ctx, p); err != nil {
							t.Errorf("DEL #%d: %v", i+1, err)
						}
					}
				})
			}
		})
	}
}

func expectVersionInfo(t *testing.T, n *harness.Node, v string) {
	t.Helper()
	out, err := n.ExecPlugin(testContext(t), "podint", harness.PluginCall{Command: "VERSION",
		Stdin: []byte(`{"cniVersion":"` + v + `"}`)})
	if err != nil || out.ExitCode != 0 {
		t.Fatalf("VERSION: %v, exit %d: %s", err, out.ExitCode, out.Stderr)
	}
	var info struct {
		CNIVersion        string   `json:"cniVersion"`
		SupportedVersions []string `json:"supportedVersions"`
	}
	if err := json.Unmarshal(out.Stdout, &info); err != nil {
		t.Fatalf("VERSION printed %q: %v", out.Stdout, err)
	}
	for _, want := range []string{"0.3.0", "0.3.1", "0.4.0", "1.0.0", "1.1.0"} {
		if !slices.Contains(info.SupportedVersions, want) {
			t.Errorf("VERSION: supported %v, want %s among them", info.SupportedVersions, want)
		}
	}
}

// With ptp the host veth has no bridge behind it: traffic between two pods
// is routed by the node, and the probes on both veths report it.
func TestPluginWithPtpPrimary(t *testing.T) {
	n := startNode(t, harness.NodeConfig{Primary: "ptp"})
	ctx := testContext(t)
	a, b := addPod(t, n.Node, "a"), addPod(t, n.Node, "b")
	ia, ib := vethIndex(t, a), vethIndex(t, b)
	expectProbe(t, n.Node, a, ia, attach.TCX)
	if err := n.CNICheck(ctx, a); err != nil {
		t.Errorf("CHECK: %v", err)
	}
	echoTCP(t, a, b, 7000)
	expectFlowReport(t, ctx, n.Collector, 6, a.IP, b.IP, 0, 7000, ia, ib)
}
