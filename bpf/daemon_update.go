package bpf

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/link"
	"github.com/containernetworking/plugins/pkg/netlinksafe"
	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// What the daemon needs to adopt probes attached by an earlier daemon (or
// an earlier version): put its freshly loaded programs into their hooks in
// place, and read the programs' run time statistics.

// UpdateProbe makes the probe pinned as probeID run the programs p loaded,
// without detaching it: a TCX link's program is replaced atomically
// (BPF_LINK_UPDATE), a tc probe's cls_bpf filters are replaced in place
// (same priority and handle; ifindex is the veth they are on). Every packet
// meets either the old program or the new one, never neither.
func (p *Probes) UpdateProbe(probeID string, ifindex int) (AttachMode, error) {
	switch mode := PinnedMode(p.pinDir, probeID); mode {
	case AttachTCX:
		return mode, p.updateTCX(probeID)
	case AttachTC:
		return mode, p.updateTC(probeID, ifindex)
	default:
		return "", fmt.Errorf("no probe pinned under %s", LinkDir(p.pinDir, probeID))
	}
}

func (p *Probes) updateTCX(probeID string) error {
	var errs []error
	for _, d := range []string{"ingress", "egress", PodIngress, PodEgress} {
		path := filepath.Join(LinkDir(p.pinDir, probeID), d)
		l, err := link.LoadPinnedLink(path, nil)
		if errors.Is(err, os.ErrNotExist) && (d == PodIngress || d == PodEgress) {
			continue // attached without a pod side
		}
		if errors.Is(err, os.ErrNotExist) {
			errs = append(errs, fmt.Errorf("%s link of probe %s is missing", d, probeID))
			continue
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("open pinned link %s: %w", path, err))
			continue
		}
		err = l.Update(p.Program(d))
		l.Close()
		if err != nil {
			errs = append(errs, fmt.Errorf("update %s link of probe %s to the new program: %w", d, probeID, err))
		}
	}
	return errors.Join(errs...)
}

func (p *Probes) updateTC(probeID string, ifindex int) error {
	l, err := netlink.LinkByIndex(ifindex)
	if err != nil {
		return fmt.Errorf("find interface %d of tc probe %s: %w", ifindex, probeID, err)
	}
	name := tcFilterPrefix + probeID
	var errs []error
	replaced := 0
	for _, d := range Directions {
		parent := uint32(netlink.HANDLE_MIN_INGRESS)
		if d == "egress" {
			parent = netlink.HANDLE_MIN_EGRESS
		}
		filters, err := netlinksafe.FilterList(l, parent)
		if err != nil {
			errs = append(errs, fmt.Errorf("list %s filters of %s: %w", d, l.Attrs().Name, err))
			continue
		}
		for _, f := range filters {
			bf, ok := f.(*netlink.BpfFilter)
			if !ok || bf.Name != name {
				continue
			}
			a := bf.FilterAttrs
			// Replacing a filter with the same handle and priority swaps its
			// program in one netlink message (tc filter replace).
			err := netlink.FilterReplace(&netlink.BpfFilter{
				FilterAttrs: netlink.FilterAttrs{LinkIndex: a.LinkIndex, Parent: parent,
					Handle: a.Handle, Priority: a.Priority, Protocol: a.Protocol},
				Fd: p.Program(d).FD(), Name: name, DirectAction: true,
			})
			if err != nil {
				errs = append(errs, fmt.Errorf("replace %s cls_bpf filter of probe %s on %s: %w", d, probeID, l.Attrs().Name, err))
				continue
			}
			replaced++
			if err := p.repinTC(probeID, d); err != nil {
				errs = append(errs, err)
			}
		}
	}
	if replaced == 0 && len(errs) == 0 {
		errs = append(errs, fmt.Errorf("tc probe %s has no cls_bpf filter on %s", probeID, l.Attrs().Name))
	}
	return errors.Join(errs...)
}

// repinTC records in the probe's pins which program its filter now runs.
func (p *Probes) repinTC(probeID, direction string) error {
	pin := filepath.Join(LinkDir(p.pinDir, probeID), tcPinPrefix+direction)
	// A clone: pinning the loaded program itself would move its own pin.
	c, err := p.Program(direction).Clone()
	if err != nil {
		return fmt.Errorf("pin %s: %w", pin, err)
	}
	defer c.Close()
	tmp := pin + "_new"
	_ = os.Remove(tmp)
	if err := c.Pin(tmp); err != nil {
		return fmt.Errorf("pin %s: %w", pin, err)
	}
	if err := os.Rename(tmp, pin); err != nil {
		return fmt.Errorf("replace pin %s: %w", pin, err)
	}
	return nil
}

// ProgramStat is one probe program's run time statistics. The kernel counts
// only while BPF statistics are enabled (EnableStats or the sysctl
// kernel.bpf_stats_enabled=1).
type ProgramStat struct {
	Program  string // ingress, egress or drop
	RunTime  uint64 // ns spent running
	RunCount uint64
}

// ProgramStats returns the statistics of the programs p loaded.
func (p *Probes) ProgramStats() ([]ProgramStat, error) {
	var out []ProgramStat
	for _, pr := range []struct {
		name string
		prog *ebpf.Program
	}{{"ingress", p.objs.PodintIngress}, {"egress", p.objs.PodintEgress}, {"drop", p.drop.PodintDrop}, {PodIngress, p.objs.PodintPodIngress}, {PodEgress, p.objs.PodintPodEgress}} {
		st, err := pr.prog.Stats()
		if err != nil {
			return out, fmt.Errorf("statistics of the %s program: %w", pr.name, err)
		}
		out = append(out, ProgramStat{Program: pr.name, RunTime: uint64(st.Runtime), RunCount: st.RunCount})
	}
	return out, nil
}

// EnableStats turns the kernel's BPF run time statistics on until the
// returned closer is closed.
func EnableStats() (interface{ Close() error }, error) {
	c, err := ebpf.EnableStats(uint32(unix.BPF_STATS_RUN_TIME))
	if err != nil {
		return nil, fmt.Errorf("enable BPF run time statistics (needs Linux 5.8 and CAP_SYS_ADMIN): %w", err)
	}
	return c, nil
}

// LinkProgramID returns the id of the program a probe's pinned TCX link
// runs, to tell which version of the probes is in a hook.
func LinkProgramID(pinDir, probeID, direction string) (ebpf.ProgramID, error) {
	l, err := link.LoadPinnedLink(filepath.Join(LinkDir(pinDir, probeID), direction), nil)
	if err != nil {
		return 0, err
	}
	defer l.Close()
	info, err := l.Info()
	if err != nil {
		return 0, fmt.Errorf("link info: %w", err)
	}
	return info.Program, nil
}

// PinnedIfindex returns the interface the probe pinned as probeID hooks: a
// TCX link says so itself; a tc probe's filter is searched for by name on
// every interface. 0 means the interface is gone (and the probe with it).
func PinnedIfindex(pinDir, probeID string) (int, error) {
	switch PinnedMode(pinDir, probeID) {
	case AttachTCX:
		for _, d := range Directions {
			if idx, err := LinkIfindex(pinDir, probeID, d); err == nil {
				return idx, nil
			}
		}
		return 0, fmt.Errorf("probe %s has no readable TCX link", probeID)
	case AttachTC:
		links, err := netlinksafe.LinkList()
		if err != nil {
			return 0, fmt.Errorf("list interfaces to find tc probe %s: %w", probeID, err)
		}
		for _, l := range links {
			filters, err := netlinksafe.FilterList(l, netlink.HANDLE_MIN_INGRESS)
			if err != nil {
				continue
			}
			for _, f := range filters {
				if bf, ok := f.(*netlink.BpfFilter); ok && bf.Name == tcFilterPrefix+probeID {
					return l.Attrs().Index, nil
				}
			}
		}
		return 0, nil
	}
	return 0, fmt.Errorf("no probe pinned under %s", LinkDir(pinDir, probeID))
}
