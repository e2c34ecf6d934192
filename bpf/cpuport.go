package bpf

import (
	"errors"
	"fmt"
	"math"
	"os"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/link"

	"github.com/podint/podint/bpf/pins"
)

// CPUPort is the port id of the node's own stack, as an INT switch has a
// CPU port: packets delivered to the node's sockets leave through it,
// packets the node sends enter through it. It is the loopback's ifindex,
// 1 in every network namespace (c/cpu.h).
const CPUPort = 1

// cpuHook is one netfilter hook the CPU port's programs attach to.
type cpuHook struct {
	name     string
	family   link.NetfilterProtocolFamily
	hook     link.NetfilterInetHook
	priority int32
	prog     func(*Collection) *ebpf.Program
}

// cpuHooks: local delivery is observed last (after the filter and NAT
// hooks, once it is sure to be delivered), sending first (before them, so
// their time counts in the hop latency).
var cpuHooks = []cpuHook{
	{"cpu_in4", link.NetfilterProtoIPv4, link.NetfilterInetLocalIn, math.MaxInt32 - 1, func(p *Collection) *ebpf.Program { return p.objs.PodintLocalIn }},
	{"cpu_in6", link.NetfilterProtoIPv6, link.NetfilterInetLocalIn, math.MaxInt32 - 1, func(p *Collection) *ebpf.Program { return p.objs.PodintLocalIn }},
	{"cpu_out4", link.NetfilterProtoIPv4, link.NetfilterInetLocalOut, math.MinInt32 + 1, func(p *Collection) *ebpf.Program { return p.objs.PodintLocalOut }},
	{"cpu_out6", link.NetfilterProtoIPv6, link.NetfilterInetLocalOut, math.MinInt32 + 1, func(p *Collection) *ebpf.Program { return p.objs.PodintLocalOut }},
}

// AttachCPUPort attaches the CPU port's programs to the netfilter hooks of
// the caller's network namespace (the node's). Like the drop probe's, the
// links are pinned and replaced only once the new ones are attached.
//
// A netfilter link's program cannot be replaced (no BPF_LINK_UPDATE), and a
// hook takes one BPF program per priority (a second one fails with EBUSY):
// the new link goes at the priority next to the one an earlier daemon's
// link holds, toward the middle, so the two alternate across restarts and
// the old link runs until the new one is in place (for that moment both
// run: with the same maps, the flow table keeps a flow from reporting twice).
func (p *Collection) AttachCPUPort() error {
	for _, h := range cpuHooks {
		prio := h.priority
		if pinnedPriority(pins.CPULinkPath(p.pinDir, h.name)) == prio {
			prio = h.alternate()
		}
		l, err := link.AttachNetfilter(link.NetfilterOptions{Program: h.prog(p), ProtocolFamily: h.family,
			Hook: h.hook, Priority: prio})
		if err != nil {
			return fmt.Errorf("attach the CPU port to netfilter (%s; needs kernel 6.4+): %w", h.name, err)
		}
		err = pins.Replace(pins.CPULinkPath(p.pinDir, h.name), l.Pin)
		l.Close()
		if err != nil {
			return fmt.Errorf("pin the CPU port's %s link: %w", h.name, err)
		}
	}
	return nil
}

// alternate is the hook's other priority, next to its own toward the middle.
func (h cpuHook) alternate() int32 {
	if h.priority > 0 {
		return h.priority - 1
	}
	return h.priority + 1
}

// pinnedPriority is the priority of the netfilter link pinned at path; 0
// (no priority of the CPU port's) when there is none.
func pinnedPriority(path string) int32 {
	l, err := link.LoadPinnedLink(path, nil)
	if err != nil {
		return 0
	}
	defer l.Close()
	info, err := l.Info()
	if err != nil || info.Netfilter() == nil {
		return 0
	}
	return info.Netfilter().Priority
}

// DetachCPUPort removes the CPU port's programs.
func DetachCPUPort(pinDir string) error {
	var errs []error
	for _, h := range cpuHooks {
		l, err := link.LoadPinnedLink(pins.CPULinkPath(pinDir, h.name), nil)
		if errors.Is(err, os.ErrNotExist) {
			continue
		}
		if err != nil {
			errs = append(errs, err)
			continue
		}
		errs = append(errs, l.Unpin())
		l.Close()
	}
	return errors.Join(errs...)
}
