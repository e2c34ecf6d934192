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
func (p *Collection) AttachCPUPort() error {
	for _, h := range cpuHooks {
		l, err := link.AttachNetfilter(link.NetfilterOptions{Program: h.prog(p), ProtocolFamily: h.family,
			Hook: h.hook, Priority: h.priority})
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
