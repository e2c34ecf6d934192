package e2e

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net"
	"strings"
	"testing"

	"github.com/containernetworking/cni/pkg/types"
	current "github.com/containernetworking/cni/pkg/types/100"
	"github.com/containernetworking/cni/pkg/version"

	"github.com/podint/podint/bpf/attach"
	"github.com/podint/podint/plugin"
	"github.com/podint/podint/test/harness"
)

// primaryShape is how a primary plugin names its host veth and what its
// result says about the interfaces: what podint must see past to the
// kernel's veth, and pass through unchanged.
type primaryShape struct {
	name   string
	hostIf string // the host veth the primary creates
	addr   string // the pod's address
	result func(hostIf, netns string, addr *net.IPNet) *current.Result
}

var primaryShapes = []primaryShape{{
	name: "bridge", hostIf: "veth5e1f0a2b", addr: "10.22.0.5/24",
	// The bridge comes first; the veth is the second host-side interface.
	result: func(hostIf, netns string, a *net.IPNet) *current.Result {
		return &current.Result{
			Interfaces: []*current.Interface{{Name: "cni0", Mac: "0a:58:0a:16:00:01"}, {Name: hostIf, Mac: "0a:58:0a:16:00:02"},
				{Name: "eth0", Mac: "0a:58:0a:16:00:05", Sandbox: netns}},
			IPs: []*current.IPConfig{{Interface: current.Int(2), Address: *a, Gateway: net.ParseIP("10.22.0.1")}},
		}
	},
}, {
	name: "ptp", hostIf: "veth9c0d1e2f", addr: "10.22.0.6/24",
	result: func(hostIf, netns string, a *net.IPNet) *current.Result {
		return &current.Result{
			Interfaces: []*current.Interface{{Name: hostIf, Mac: "0a:58:0a:16:00:01"}, {Name: "eth0", Mac: "0a:58:0a:16:00:06", Sandbox: netns}},
			IPs:        []*current.IPConfig{{Interface: current.Int(1), Address: *a, Gateway: net.ParseIP("10.22.0.1")}},
		}
	},
}, {
	name: "calico", hostIf: "cali1a2b3c4d5e6", addr: "192.168.7.9/32",
	// Only the host veth, without a MAC; the address names no interface.
	result: func(hostIf, _ string, a *net.IPNet) *current.Result {
		return &current.Result{
			Interfaces: []*current.Interface{{Name: hostIf}},
			IPs:        []*current.IPConfig{{Address: *a}},
		}
	},
}, {
	name: "cilium", hostIf: "lxc0f1e2d3c4b5a", addr: "10.0.1.7/32",
	// As cilium-cni (veth datapath mode) prints it: the lxc host veth, then
	// eth0 with the netns; a /32 whose gateway is cilium_host's address,
	// and the routes to it and through it. Its BPF host routing moves
	// packets around the lxc veth (docs/cni-support.md).
	result: func(hostIf, netns string, a *net.IPNet) *current.Result {
		router := net.ParseIP("10.0.1.118")
		return &current.Result{
			Interfaces: []*current.Interface{{Name: hostIf, Mac: "6e:3c:81:0a:00:01"}, {Name: "eth0", Mac: "8a:44:12:0a:00:07", Sandbox: netns}},
			IPs:        []*current.IPConfig{{Interface: current.Int(1), Address: *a, Gateway: router}},
			Routes: []*types.Route{{Dst: net.IPNet{IP: router, Mask: net.CIDRMask(32, 32)}},
				{Dst: net.IPNet{IP: net.IPv4zero, Mask: net.CIDRMask(0, 32)}, GW: router}},
		}
	},
}, {
	name: "aws-vpc-cni", hostIf: "eni9f8e7d6c5b4", addr: "172.31.5.6/32",
	// A made-up "dummy" interface carries VLAN and device numbers.
	result: func(hostIf, netns string, a *net.IPNet) *current.Result {
		return &current.Result{
			Interfaces: []*current.Interface{{Name: hostIf}, {Name: "eth0", Sandbox: netns},
				{Name: "dummy9f8e7d6c5b4", Mac: "0", Sandbox: "0", SocketPath: "1"}},
			IPs: []*current.IPConfig{{Interface: current.Int(1), Address: *a, Gateway: net.ParseIP("169.254.1.1")}},
		}
	},
}, {
	name: "no host interface", hostIf: "vethb1c2d3e4", addr: "10.22.0.8/24",
	result: func(_, netns string, a *net.IPNet) *current.Result {
		return &current.Result{
			Interfaces: []*current.Interface{{Name: "eth0", Sandbox: netns}},
			IPs:        []*current.IPConfig{{Interface: current.Int(0), Address: *a}},
		}
	},
}}

// prevResultBytes encodes res in version v, as libcni hands it to podint.
func prevResultBytes(t *testing.T, res *current.Result, v string) []byte {
	t.Helper()
	res.CNIVersion = "1.1.0"
	r, err := res.GetAsVersion(v)
	if err != nil {
		t.Fatal(err)
	}
	b, err := json.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func podintConf(n *harness.Node, v string, extra string, prev []byte) []byte {
	conf := fmt.Sprintf(`{"cniVersion":%q,"name":"podint-shapes","type":"podint","root":%q%s`, v, n.Paths.Root, extra)
	if prev != nil {
		conf += `,"prevResult":` + string(prev)
	}
	return []byte(conf + "}")
}

// Whatever a primary reports, podint finds the pod's veth through the
// kernel, probes it, registers the right interface and addresses, and
// prints the prevResult byte for byte.
func TestHostVethFoundWhateverThePrimaryReports(t *testing.T) {
	n := startNode(t, harness.NodeConfig{})
	ctx := testContext(t)
	for _, shape := range primaryShapes {
		t.Run(shape.name, func(t *testing.T) {
			for i, v := range plugin.SupportedVersions.SupportedVersions() {
				p, err := n.AddVethPod(fmt.Sprintf("s%d", i), shape.hostIf, shape.addr)
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { p.NS.Delete() })
				ip, ipnet, _ := net.ParseCIDR(shape.addr)
				prev := prevResultBytes(t, shape.result(shape.hostIf, p.NS.Path, &net.IPNet{IP: ip, Mask: ipnet.Mask}), v)
				conf := podintConf(n.Node, v, "", prev)

				out, err := n.ExecPlugin(ctx, "podint", p.PodintCall("ADD", conf))
				if err != nil || out.ExitCode != 0 {
					t.Fatalf("%s ADD: %v, exit %d: %s %s", v, err, out.ExitCode, out.Stdout, out.Stderr)
				}
				if !bytes.Equal(out.Stdout, prev) {
					t.Errorf("%s ADD printed\n%s\nwant the prevResult unchanged\n%s", v, out.Stdout, prev)
				}
				ifindex := vethIndex(t, p)
				expectProbe(t, n.Node, p, ifindex, attach.TCX)
				reg := registration(t, ctx, n.Node, p)
				if reg.GetHostInterface() != shape.hostIf || int(reg.GetIfindex()) != ifindex ||
					len(reg.GetPod().GetIps()) != 1 || reg.GetPod().GetIps()[0].GetAddress() != shape.addr {
					t.Errorf("%s registration %v, want %s (%d) with %s", v, reg, shape.hostIf, ifindex, shape.addr)
				}
				if ok, _ := version.GreaterThanOrEqualTo(v, "0.4.0"); ok {
					if out, _ := n.ExecPlugin(ctx, "podint", p.PodintCall("CHECK", conf)); out.ExitCode != 0 {
						t.Errorf("%s CHECK: exit %d: %s", v, out.ExitCode, out.Stdout)
					}
				}
				if out, _ := n.ExecPlugin(ctx, "podint", p.PodintCall("DEL", conf)); out.ExitCode != 0 || len(out.Stdout) != 0 {
					t.Errorf("%s DEL: exit %d, stdout %q", v, out.ExitCode, out.Stdout)
				}
				expectNoProbe(t, n.Node, p, ifindex)
				if err := n.DeleteLink(shape.hostIf); err != nil {
					t.Fatal(err)
				}
				p.NS.Delete()
			}
		})
	}
}

// A pod interface that is no veth (macvlan here; ipvlan and SR-IOV alike)
// has no host side to probe: the pod is passed through, with a log line.
func TestNonVethPodInterfaceIsPassedThrough(t *testing.T) {
	n := startNode(t, harness.NodeConfig{})
	ctx := testContext(t)
	p, err := n.AddMacvlanPod("mv", "parent0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.NS.Delete() })
	ip, ipnet, _ := net.ParseCIDR("10.40.0.2/24")
	prev := prevResultBytes(t, &current.Result{
		Interfaces: []*current.Interface{{Name: "eth0", Mac: "02:00:00:00:00:02", Sandbox: p.NS.Path}},
		IPs:        []*current.IPConfig{{Interface: current.Int(0), Address: net.IPNet{IP: ip, Mask: ipnet.Mask}}},
	}, "1.1.0")
	conf := podintConf(n.Node, "1.1.0", "", prev)
	out, err := n.ExecPlugin(ctx, "podint", p.PodintCall("ADD", conf))
	if err != nil || out.ExitCode != 0 {
		t.Fatalf("ADD: %v, exit %d: %s", err, out.ExitCode, out.Stdout)
	}
	if !bytes.Equal(out.Stdout, prev) {
		t.Errorf("ADD printed %s, want the prevResult %s", out.Stdout, prev)
	}
	if !strings.Contains(string(out.Stderr), "not a veth") {
		t.Errorf("stderr %q does not say why there is no probe", out.Stderr)
	}
	if ids, _ := attach.AttachedProbes(n.Paths.PinDir); len(ids) != 0 {
		t.Errorf("probes %v pinned for a macvlan pod", ids)
	}
	if reg := registration(t, ctx, n.Node, p); reg != nil {
		t.Errorf("registration %v for a macvlan pod", reg)
	}
	for _, verb := range []string{"CHECK", "DEL"} {
		if out, _ := n.ExecPlugin(ctx, "podint", p.PodintCall(verb, conf)); out.ExitCode != 0 {
			t.Errorf("%s: exit %d: %s", verb, out.ExitCode, out.Stdout)
		}
	}
}
