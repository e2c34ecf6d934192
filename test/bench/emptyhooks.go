package main

import (
	"fmt"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/link"

	"github.com/podint/podint/test/harness"
)

// emptyHooks are empty TCX programs (they continue at once) on both
// directions of pods' host veths, where the probes sit: what having any
// TCX program on those hooks costs a packet, the hook's dispatch and the
// entry into a program, with none of the probes' work. The fixed-rate
// windows set them in place of the probes to split the probes' real-path
// cost into the hooks' and their own.
type emptyHooks struct {
	prog  *ebpf.Program
	links []link.Link
}

func newEmptyHooks() (*emptyHooks, error) {
	prog, err := emptyTC()
	if err != nil {
		return nil, fmt.Errorf("load the empty TC program: %w", err)
	}
	return &emptyHooks{prog: prog}, nil
}

// attach hooks the empty program to both directions of the pods' host veths.
func (h *emptyHooks) attach(n *benchNode, pods ...*harness.Pod) error {
	for _, p := range pods {
		veth, err := p.HostVeth()
		if err != nil {
			return err
		}
		err = n.NS.Do(func() error {
			for _, at := range []ebpf.AttachType{ebpf.AttachTCXIngress, ebpf.AttachTCXEgress} {
				l, err := link.AttachTCX(link.TCXOptions{Interface: veth.Attrs().Index, Program: h.prog, Attach: at})
				if err != nil {
					return fmt.Errorf("attach an empty TCX program to %s: %w", veth.Attrs().Name, err)
				}
				h.links = append(h.links, l)
			}
			return nil
		})
		if err != nil {
			h.detach()
			return err
		}
	}
	return nil
}

// detach takes every empty program off (closing an unpinned link detaches it).
func (h *emptyHooks) detach() {
	for _, l := range h.links {
		l.Close()
	}
	h.links = nil
}

func (h *emptyHooks) close() {
	h.detach()
	h.prog.Close()
}
