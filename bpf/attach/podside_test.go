package attach

import (
	"fmt"
	"slices"
	"testing"

	"github.com/cilium/ebpf"
	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"

	"github.com/podint/podint/bpf/pins"
	"github.com/podint/podint/internal/bpftest"
)

// podPeer moves the peer of vethNS's veth into a namespace of its own, as
// a pod's eth0, and returns where Attach finds it.
func podPeer(t *testing.T) (PodInterface, netns.NsHandle) {
	t.Helper()
	node, err := netns.Get()
	if err != nil {
		t.Fatal(err)
	}
	defer node.Close()
	pod, err := netns.New() // enters it
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pod.Close() })
	if err := netns.Set(node); err != nil {
		t.Fatal(err)
	}
	peer, err := netlink.LinkByName("peer0")
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
	l, err := h.LinkByName("peer0")
	if err != nil {
		t.Fatal(err)
	}
	return PodInterface{Netns: fmt.Sprintf("/proc/self/fd/%d", int(pod)), Ifindex: l.Attrs().Index}, pod
}

// podSideState is what the pod side of the probe on hostIfindex holds: the
// TCX programs on the pod's interface, by hook, and the pod_ports entries
// naming hostIfindex.
func podSideState(t *testing.T, pinDir string, pod PodInterface, podNS netns.NsHandle, hostIfindex int) (ingress, egress, ports int) {
	t.Helper()
	node, err := netns.Get()
	if err != nil {
		t.Fatal(err)
	}
	defer node.Close()
	if err := netns.Set(podNS); err != nil {
		t.Fatal(err)
	}
	ingress = len(bpftest.TCXPrograms(t, pod.Ifindex, ebpf.AttachTCXIngress))
	egress = len(bpftest.TCXPrograms(t, pod.Ifindex, ebpf.AttachTCXEgress))
	if err := netns.Set(node); err != nil {
		t.Fatal(err)
	}
	pp, err := PodPorts(pinDir)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range pp {
		if p.HostIfindex == hostIfindex {
			ports++
		}
	}
	return ingress, egress, ports
}

// Options.Pod nil (the plugin's podSide false) attaches the host veth's
// hooks only: no link on the pod's interface, no pinned pod-side link, no
// pod_ports entry. Attaching again without it, as an ADD after the config
// turned the pod side off does, takes an earlier pod side away.
func TestPodSideOnlyWhenAsked(t *testing.T) {
	p := loadForTest(t)
	host := vethNS(t)
	pod, podNS := podPeer(t)
	for _, step := range []struct {
		name      string
		pod       *PodInterface
		wantHooks []string
	}{
		{"without", nil, nil},
		{"with", &pod, []string{string(pins.PodIngress), string(pins.PodEgress)}},
		{"without again", nil, nil},
	} {
		if _, err := Attach(p.pinDir, "pod_eth0", host, Options{Mode: TCX, Position: Last, Pod: step.pod}); err != nil {
			t.Fatalf("%s: %v", step.name, err)
		}
		if got := PodHooks(p.pinDir, "pod_eth0"); !slices.Equal(got, step.wantHooks) {
			t.Errorf("%s: pinned pod-side hooks %v, want %v", step.name, got, step.wantHooks)
		}
		in, eg, ports := podSideState(t, p.pinDir, pod, podNS, host)
		want := len(step.wantHooks) / 2
		if in != want || eg != want || ports != want {
			t.Errorf("%s: the pod's interface runs %d ingress and %d egress programs and pod_ports has %d entries for the host veth, want %d each",
				step.name, in, eg, ports, want)
		}
		if len(bpftest.TCXPrograms(t, host, ebpf.AttachTCXIngress)) != 1 || len(bpftest.TCXPrograms(t, host, ebpf.AttachTCXEgress)) != 1 {
			t.Errorf("%s: the host veth lacks its probe", step.name)
		}
		if _, err := Verify(p.pinDir, "pod_eth0", host); err != nil {
			t.Errorf("%s: Verify: %v", step.name, err)
		}
	}
	if err := Detach(p.pinDir, "pod_eth0", host); err != nil {
		t.Fatal(err)
	}
	if in, eg, ports := podSideState(t, p.pinDir, pod, podNS, host); in+eg+ports != 0 {
		t.Errorf("after Detach: %d, %d programs on the pod's interface, %d pod_ports entries", in, eg, ports)
	}
}
