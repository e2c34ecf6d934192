package cnicache

import (
	"encoding/json"
	"net"
	"os"
	"path/filepath"
	"testing"

	"github.com/containernetworking/cni/libcni"
	current "github.com/containernetworking/cni/pkg/types/100"
)

// writeEntry writes a cache entry as libcni does after an ADD, and checks
// that libcni itself reads it back, so the test's file is libcni's format.
func writeEntry(t *testing.T, dir, containerID, netns string, res *current.Result) {
	t.Helper()
	conf, err := libcni.ConfListFromBytes([]byte(`{"cniVersion":"1.0.0","name":"podnet","plugins":[{"type":"bridge"}]}`))
	if err != nil {
		t.Fatal(err)
	}
	rt := &libcni.RuntimeConf{ContainerID: containerID, NetNS: netns, IfName: "eth0",
		Args: [][2]string{{"K8S_POD_NAMESPACE", "shop"}, {"K8S_POD_NAME", "cart-1"}, {"K8S_POD_UID", "uid-1"}}}
	raw, err := json.Marshal(res)
	if err != nil {
		t.Fatal(err)
	}
	var result map[string]any
	if err := json.Unmarshal(raw, &result); err != nil {
		t.Fatal(err)
	}
	b, err := json.Marshal(map[string]any{
		"kind": "cniCacheV1", "containerId": rt.ContainerID, "ifName": rt.IfName, "networkName": conf.Name,
		"netns": rt.NetNS, "cniArgs": rt.Args, "result": result,
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(dir, "results"), 0o700); err != nil {
		t.Fatal(err)
	}
	name := conf.Name + "-" + rt.ContainerID + "-" + rt.IfName
	if err := os.WriteFile(filepath.Join(dir, "results", name), b, 0o600); err != nil {
		t.Fatal(err)
	}
	c := libcni.NewCNIConfigWithCacheDir(nil, dir, nil)
	if got, err := c.GetNetworkListCachedResult(conf, rt); err != nil || got == nil {
		t.Fatalf("libcni does not read the test's cache entry: %v, %v", got, err)
	}
}

func TestListReadsPodsAndAddresses(t *testing.T) {
	dir := t.TempDir()
	zero, one := 0, 1
	_, ipnet, _ := net.ParseCIDR("10.22.0.7/24")
	ipnet.IP = net.ParseIP("10.22.0.7").To4()
	res := &current.Result{CNIVersion: "1.0.0",
		Interfaces: []*current.Interface{{Name: "eth0", Sandbox: "/var/run/netns/p"}, {Name: "net1", Sandbox: "/var/run/netns/p"}},
		IPs: []*current.IPConfig{
			{Interface: &zero, Address: *ipnet, Gateway: net.ParseIP("10.22.0.1")},
			{Interface: &one, Address: net.IPNet{IP: net.ParseIP("192.168.9.9").To4(), Mask: net.CIDRMask(24, 32)}},
		}}
	writeEntry(t, dir, "abc123", "/var/run/netns/p", res)

	list, err := List(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 1 {
		t.Fatalf("%d attachments, want 1", len(list))
	}
	pod := list[0].Pod()
	if pod.GetNamespace() != "shop" || pod.GetName() != "cart-1" || pod.GetUid() != "uid-1" ||
		pod.GetContainerId() != "abc123" || pod.GetInterface() != "eth0" || pod.GetNetns() != "/var/run/netns/p" {
		t.Errorf("pod %v", pod)
	}
	if len(pod.GetIps()) != 1 {
		t.Fatalf("ips %v: want eth0's address only, not net1's", pod.GetIps())
	}
	ip := pod.GetIps()[0]
	if ip.GetAddress() != "10.22.0.7/24" || ip.GetSubnet() != "10.22.0.0/24" || ip.GetGateway() != "10.22.0.1" {
		t.Errorf("ip %v", ip)
	}
}

func TestMissingCacheIsEmptyAndBadEntriesAreReported(t *testing.T) {
	dir := t.TempDir()
	if list, err := List(dir); err != nil || len(list) != 0 {
		t.Fatalf("missing cache: %v, %v", list, err)
	}
	writeEntry(t, dir, "good", "", &current.Result{CNIVersion: "1.0.0"})
	if err := os.WriteFile(filepath.Join(dir, "results", "podnet-bad-eth0"), []byte("{not json"), 0o600); err != nil {
		t.Fatal(err)
	}
	list, err := List(dir)
	if err == nil || len(list) != 1 || list[0].ContainerID != "good" {
		t.Errorf("got %v, %v: want the good entry and an error naming the bad one", list, err)
	}
}
