package podveth

import (
	"errors"
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/podint/podint/internal/nstest"
	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
)

// node moves the test's goroutine, locked to its thread, into a fresh
// network namespace (the node's) and returns a way to make pod namespaces,
// named and mounted as runtimes do. Everything goes when the test ends.
func node(t *testing.T) (newPod func(name string) (path string, h netns.NsHandle)) {
	t.Helper()
	fresh := nstest.EnterFresh(t)
	return func(name string) (string, netns.NsHandle) {
		name = fmt.Sprintf("podveth-test-%d-%s", os.Getpid(), name)
		h, err := netns.NewNamed(name) // enters it: go back to the node
		if err != nil {
			t.Fatal(err)
		}
		if err := netns.Set(fresh); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { h.Close(); _ = netns.DeleteNamed(name) })
		return "/var/run/netns/" + name, h
	}
}

// addVeth makes a veth host/eth0 in the node and moves eth0 into pod.
func addVeth(t *testing.T, host string, pod netns.NsHandle) int {
	t.Helper()
	v := &netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: host}, PeerName: "tmp-" + host}
	if err := netlink.LinkAdd(v); err != nil {
		t.Fatalf("add veth: %v", err)
	}
	peer, err := netlink.LinkByName("tmp-" + host)
	if err != nil {
		t.Fatal(err)
	}
	if err := netlink.LinkSetNsFd(peer, int(pod)); err != nil {
		t.Fatal(err)
	}
	h, err := netlink.NewHandleAt(pod)
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	moved, err := h.LinkByName("tmp-" + host)
	if err != nil {
		t.Fatal(err)
	}
	if err := h.LinkSetName(moved, "eth0"); err != nil {
		t.Fatal(err)
	}
	l, err := netlink.LinkByName(host)
	if err != nil {
		t.Fatal(err)
	}
	return l.Attrs().Index
}

func podLinkOf(t *testing.T, pod netns.NsHandle, name string) netlink.Link {
	t.Helper()
	h, err := netlink.NewHandleAt(pod)
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	l, err := h.LinkByName(name)
	if err != nil {
		t.Fatal(err)
	}
	return l
}

func TestFindAndVerifyAPodVeth(t *testing.T) {
	newPod := node(t)
	path, pod := newPod("a")
	otherPath, other := newPod("b")
	hostIndex := addVeth(t, "veth-a", pod)
	otherIndex := addVeth(t, "veth-b", other)
	eth0 := podLinkOf(t, pod, "eth0")

	p, err := Find(path, "eth0")
	if err != nil {
		t.Fatal(err)
	}
	want := Pair{HostIfindex: hostIndex, HostName: "veth-a", PodIfindex: eth0.Attrs().Index, PodMAC: eth0.Attrs().HardwareAddr.String()}
	if p != want {
		t.Fatalf("Find = %+v, want %+v", p, want)
	}
	if p, err := Verify(hostIndex, "veth-a", path, "eth0"); err != nil || p != want {
		t.Fatalf("Verify = %+v, %v; want %+v", p, err, want)
	}
	if p, err := Verify(hostIndex, "", path, "eth0"); err != nil || p != want {
		t.Fatalf("Verify without a name = %+v, %v; want %+v", p, err, want)
	}
	if _, err := Verify(hostIndex, "veth-x", path, "eth0"); err == nil || !strings.Contains(err.Error(), "not host_interface veth-x") {
		t.Errorf("Verify of a wrong name: %v", err)
	}
	if _, err := Verify(otherIndex, "veth-b", path, "eth0"); err == nil || !strings.Contains(err.Error(), "belongs to another pod") {
		t.Errorf("Verify of another pod's veth: %v", err)
	}
	if _, err := Verify(otherIndex, "veth-b", otherPath, "eth0"); err != nil {
		t.Errorf("Verify of the other pod: %v", err)
	}
	if _, err := Verify(99999, "", path, "eth0"); !errors.Is(err, ErrGone) {
		t.Errorf("Verify of a missing ifindex: %v, want ErrGone", err)
	}
	if _, err := Find(path, "eth9"); err == nil || errors.Is(err, ErrNotVeth) {
		t.Errorf("Find of a missing interface: %v", err)
	}
	if _, err := Find("/var/run/netns/podveth-test-none", "eth0"); err == nil {
		t.Error("Find in a missing namespace succeeded")
	}
}

// A veth made with its peer straight in the pod's namespace gives both
// ends the first free ifindex of their namespace: often the same one, and
// then the kernel names no peer index (IFLA_LINK) at all (ptp does this).
func TestFindAVethWhoseEndsShareTheirIfindex(t *testing.T) {
	newPod := node(t)
	path, pod := newPod("s")
	v := &netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: "veth-s"}, PeerName: "eth0", PeerNamespace: netlink.NsFd(pod)}
	if err := netlink.LinkAdd(v); err != nil {
		t.Fatalf("add veth: %v", err)
	}
	host, err := netlink.LinkByName("veth-s")
	if err != nil {
		t.Fatal(err)
	}
	eth0 := podLinkOf(t, pod, "eth0")
	if host.Attrs().Index != eth0.Attrs().Index {
		t.Fatalf("the ends' ifindexes are %d and %d: the test needs them equal", host.Attrs().Index, eth0.Attrs().Index)
	}
	p, err := Find(path, "eth0")
	if err != nil {
		t.Fatal(err)
	}
	if p.HostIfindex != host.Attrs().Index || p.HostName != "veth-s" || p.PodIfindex != eth0.Attrs().Index {
		t.Fatalf("Find = %+v", p)
	}
	if _, err := Verify(host.Attrs().Index, "veth-s", path, "eth0"); err != nil {
		t.Fatal(err)
	}
}

func TestFindRefusesWhatIsNoVethOfThisNode(t *testing.T) {
	newPod := node(t)
	path, pod := newPod("c")
	h, err := netlink.NewHandleAt(pod)
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	if err := h.LinkAdd(&netlink.Bridge{LinkAttrs: netlink.LinkAttrs{Name: "eth1"}}); err != nil {
		t.Fatal(err)
	}
	if _, err := Find(path, "eth1"); !errors.Is(err, ErrNotVeth) || !strings.Contains(err.Error(), "a bridge") {
		t.Errorf("Find of a bridge: %v, want ErrNotVeth", err)
	}
	if _, err := Find(path, "lo"); !errors.Is(err, ErrNotVeth) {
		t.Errorf("Find of lo: %v, want ErrNotVeth", err)
	}
	// A veth whose both ends are inside the pod: its peer is no interface
	// of the node's (ifindexes are per namespace).
	if err := h.LinkAdd(&netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: "eth2"}, PeerName: "eth3"}); err != nil {
		t.Fatal(err)
	}
	if _, err := Find(path, "eth2"); err == nil || !strings.Contains(err.Error(), "not in this network namespace") {
		t.Errorf("Find of a veth inside the pod: %v", err)
	}
}
