package plugin

import (
	"net"
	"reflect"
	"testing"

	current "github.com/containernetworking/cni/pkg/types/100"

	"github.com/podint/podint/internal/cniresult"
)

func ipConf(t *testing.T, cidr, gw string, iface *int) *current.IPConfig {
	t.Helper()
	ip, n, err := net.ParseCIDR(cidr)
	if err != nil {
		t.Fatal(err)
	}
	c := &current.IPConfig{Address: net.IPNet{IP: ip, Mask: n.Mask}, Interface: iface}
	if gw != "" {
		c.Gateway = net.ParseIP(gw)
	}
	return c
}

func TestPodIPsFromEveryPrimaryShape(t *testing.T) {
	for _, tc := range []struct {
		name string
		res  *current.Result
		want []string // address subnet gateway
	}{{
		name: "bridge",
		res: &current.Result{
			Interfaces: []*current.Interface{{Name: "cni0", Mac: "aa"}, {Name: "veth1", Mac: "bb"}, {Name: "eth0", Mac: "cc", Sandbox: "/var/run/netns/p"}},
			IPs:        []*current.IPConfig{ipConf(t, "10.22.0.5/24", "10.22.0.1", current.Int(2)), ipConf(t, "fd00::5/64", "", current.Int(2))},
		},
		want: []string{"10.22.0.5/24 10.22.0.0/24 10.22.0.1", "fd00::5/64 fd00::/64 "},
	}, {
		name: "calico, host veth only and no interface on the address",
		res: &current.Result{
			Interfaces: []*current.Interface{{Name: "cali1234567890a"}},
			IPs:        []*current.IPConfig{ipConf(t, "192.168.7.9/32", "", nil)},
		},
		want: []string{"192.168.7.9/32 192.168.7.9/32 "},
	}, {
		name: "address on the host veth",
		res: &current.Result{
			Interfaces: []*current.Interface{{Name: "lxc12ab"}},
			IPs:        []*current.IPConfig{ipConf(t, "10.0.1.7/32", "", current.Int(0))},
		},
		want: []string{"10.0.1.7/32 10.0.1.7/32 "},
	}, {
		name: "aws vpc cni with its dummy interface",
		res: &current.Result{
			Interfaces: []*current.Interface{{Name: "eni9f8e7d6c5b4"}, {Name: "eth0", Sandbox: "/var/run/netns/p"}, {Name: "dummy9f8e7d6c5b4", Mac: "0", Sandbox: "0"}},
			IPs:        []*current.IPConfig{ipConf(t, "172.31.5.6/32", "169.254.1.1", current.Int(1))},
		},
		want: []string{"172.31.5.6/32 172.31.5.6/32 169.254.1.1"},
	}, {
		name: "a second pod interface keeps its own address",
		res: &current.Result{
			Interfaces: []*current.Interface{{Name: "eth0", Sandbox: "/p"}, {Name: "net1", Sandbox: "/p"}},
			IPs:        []*current.IPConfig{ipConf(t, "10.1.0.2/16", "", current.Int(0)), ipConf(t, "10.2.0.2/16", "", current.Int(1))},
		},
		want: []string{"10.1.0.2/16 10.1.0.0/16 "},
	}, {
		name: "no result",
	}} {
		var got []string
		for _, ip := range cniresult.PodIPs(tc.res, "eth0") {
			got = append(got, ip.Address+" "+ip.Subnet+" "+ip.Gateway)
		}
		if !reflect.DeepEqual(got, tc.want) {
			t.Errorf("%s: %q, want %q", tc.name, got, tc.want)
		}
	}
}

func TestProbeOfCarriesIdentityAndMode(t *testing.T) {
	p := probeOf("veth1", 7, "tc", podIdentity{Namespace: "ns", Name: "n", UID: "u"},
		attachment{containerID: "c1", netns: "/run/netns/x", podIf: "eth0"}, nil)
	pod := p.Pod
	if p.Ifindex != 7 || p.HostInterface != "veth1" || p.AttachMode != "tc" || p.Kind != "PORT_KIND_POD" ||
		pod.Namespace != "ns" || pod.Name != "n" || pod.UID != "u" ||
		pod.ContainerID != "c1" || pod.Netns != "/run/netns/x" || pod.Interface != "eth0" {
		t.Errorf("probe %v", p)
	}
}
