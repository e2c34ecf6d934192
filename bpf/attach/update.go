package attach

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/vishvananda/netlink"

	"github.com/podint/podint/bpf/attach/internal/bpfsys"
	"github.com/podint/podint/bpf/pins"
)

// What the daemon needs to adopt probes attached by an earlier daemon (or
// an earlier version): find a probe's interface, and put its freshly loaded
// programs into their hooks in place.

// Programs gives the descriptor of the program that runs at a hook: the
// daemon's freshly loaded ones (bpf.Collection.ProgramFD).
type Programs func(pins.Hook) int

// Update makes the probe pinned as probeID run the programs progs gives,
// without detaching it: a TCX link's program is replaced atomically
// (BPF_LINK_UPDATE), a tc probe's cls_bpf filters are replaced in place
// (same priority and handle; ifindex is the veth they are on). Every packet
// meets either the old program or the new one, never neither.
func Update(pinDir, probeID string, ifindex int, progs Programs) (Mode, error) {
	switch mode := PinnedMode(pinDir, probeID); mode {
	case TCX:
		return mode, updateTCX(pinDir, probeID, progs)
	case TC:
		return mode, updateTC(pinDir, probeID, ifindex, progs)
	default:
		return "", fmt.Errorf("no probe pinned under %s", pins.LinkDir(pinDir, probeID))
	}
}

func updateTCX(pinDir, probeID string, progs Programs) error {
	var errs []error
	for _, d := range []pins.Hook{pins.Ingress, pins.Egress, pins.PodIngress, pins.PodEgress} {
		path := filepath.Join(pins.LinkDir(pinDir, probeID), string(d))
		l, err := bpfsys.Open(path)
		if errors.Is(err, os.ErrNotExist) && (d == pins.PodIngress || d == pins.PodEgress) {
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
		err = bpfsys.UpdateLink(l, progs(d))
		l.Close()
		if err != nil {
			errs = append(errs, fmt.Errorf("update %s link of probe %s to the new program: %w", d, probeID, err))
		}
	}
	return errors.Join(errs...)
}

func updateTC(pinDir, probeID string, ifindex int, progs Programs) error {
	l, err := netlink.LinkByIndex(ifindex)
	if err != nil {
		return fmt.Errorf("find interface %d of tc probe %s: %w", ifindex, probeID, err)
	}
	found, err := tcFilters(l, func(id string) bool { return id == probeID })
	if err != nil {
		return err
	}
	if len(found) == 0 {
		return fmt.Errorf("tc probe %s has no cls_bpf filter on %s", probeID, l.Attrs().Name)
	}
	var errs []error
	for _, pf := range found {
		a := pf.filter.FilterAttrs
		// Replacing a filter with the same handle and priority swaps its
		// program in one netlink message (tc filter replace).
		err := netlink.FilterReplace(&netlink.BpfFilter{
			FilterAttrs: netlink.FilterAttrs{LinkIndex: a.LinkIndex, Parent: tcParent(pf.direction),
				Handle: a.Handle, Priority: a.Priority, Protocol: a.Protocol},
			Fd: progs(pf.direction), Name: tcFilterName(probeID), DirectAction: true,
		})
		if err != nil {
			errs = append(errs, fmt.Errorf("replace %s cls_bpf filter of probe %s on %s: %w", pf.direction, probeID, l.Attrs().Name, err))
			continue
		}
		if err := repinTC(pinDir, probeID, pf.direction, progs(pf.direction)); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// repinTC records in the probe's pins which program its filter now runs.
func repinTC(pinDir, probeID string, h pins.Hook, progFD int) error {
	pin := filepath.Join(pins.LinkDir(pinDir, probeID), pins.TCProgramPin(h))
	return pins.Replace(pin, func(tmp string) error { return pinProgram(progFD, tmp) })
}

// PinnedIfindex returns the interface the probe pinned as probeID hooks: a
// TCX link says so itself; a tc probe's filter is searched for by name on
// every interface. 0 means the interface is gone (and the probe with it).
func PinnedIfindex(pinDir, probeID string) (int, error) {
	switch PinnedMode(pinDir, probeID) {
	case TCX:
		for _, d := range pins.HostHooks() {
			if idx, err := linkIfindex(pinDir, probeID, d); err == nil {
				return idx, nil
			}
		}
		return 0, fmt.Errorf("probe %s has no readable TCX link", probeID)
	case TC:
		links, err := tcLinks(0)
		if err != nil {
			return 0, err
		}
		for _, l := range links {
			found, err := tcFilters(l, func(id string) bool { return id == probeID })
			if err == nil && len(found) > 0 {
				return l.Attrs().Index, nil
			}
		}
		return 0, nil
	}
	return 0, fmt.Errorf("no probe pinned under %s", pins.LinkDir(pinDir, probeID))
}
