package attach

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/containernetworking/plugins/pkg/netlinksafe"
	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/podint/podint/bpf/attach/internal/bpfsys"
	"github.com/podint/podint/bpf/pins"
)

// The tc fallback, for kernels without TCX (before 6.6): a clsact qdisc and
// one direct-action cls_bpf filter per direction. The probe programs return
// TC_ACT_UNSPEC, which in a filter chain means "ask the next filter", so
// the probe stays an observer here too.
//
// A filter is found again by its name (podint:<probe id>), never by its
// priority or handle alone, so DEL and GC remove exactly podint's filters
// and never another plugin's. The clsact qdisc is shared and stays: another
// agent may use it, and it goes away with the veth.

// tcFilterPrefix starts the names of podint's cls_bpf filters.
const tcFilterPrefix = "podint:"

func tcFilterName(probeID string) string { return tcFilterPrefix + probeID }

func tcParent(h pins.Hook) uint32 {
	if h.IsEgress() {
		return netlink.HANDLE_MIN_EGRESS
	}
	return netlink.HANDLE_MIN_INGRESS
}

// tcPriority: 1 is the first priority a filter can have (0 asks the kernel
// to choose one), and 0xffff the last.
func tcPriority(pos Position) uint16 {
	if pos == Last {
		return 0xffff
	}
	return 1
}

func attachTC(progs programs, dir, probeID string, ifindex int, pos Position) error {
	l, err := netlink.LinkByIndex(ifindex)
	if err != nil {
		return fmt.Errorf("find interface %d for tc: %w", ifindex, err)
	}
	if err := ensureClsact(l); err != nil {
		return err
	}
	prio := tcPriority(pos)
	for _, d := range pins.HostHooks() {
		// The pin comes first, so that no filter exists without the record
		// saying it is podint's.
		if err := pinProgram(progs[d].Int(), filepath.Join(dir, pins.TCProgramPin(d))); err != nil {
			return err
		}
		err := netlink.FilterAdd(&netlink.BpfFilter{
			FilterAttrs: netlink.FilterAttrs{
				LinkIndex: ifindex,
				Parent:    tcParent(d),
				Priority:  prio,
				Protocol:  unix.ETH_P_ALL,
			},
			Fd:           progs[d].Int(),
			Name:         tcFilterName(probeID),
			DirectAction: true,
		})
		if errors.Is(err, unix.EINVAL) {
			return fmt.Errorf("add %s cls_bpf filter to %s: priority %d holds a filter of another kind or protocol; "+
				"use attachPosition last or TCX: %w", d, l.Attrs().Name, prio, err)
		}
		if err != nil {
			return fmt.Errorf("add %s cls_bpf filter to %s at priority %d: %w", d, l.Attrs().Name, prio, err)
		}
	}
	return nil
}

// ensureClsact adds a clsact qdisc to l unless one is there already.
func ensureClsact(l netlink.Link) error {
	err := netlink.QdiscAdd(&netlink.GenericQdisc{
		QdiscAttrs: netlink.QdiscAttrs{
			LinkIndex: l.Attrs().Index,
			Handle:    netlink.MakeHandle(0xffff, 0),
			Parent:    netlink.HANDLE_CLSACT,
		},
		QdiscType: "clsact",
	})
	if !errors.Is(err, unix.EEXIST) {
		if err != nil {
			return fmt.Errorf("add clsact qdisc to %s: %w", l.Attrs().Name, err)
		}
		return nil
	}
	// Something holds the slot: a clsact is shared, an ingress qdisc leaves
	// no egress hook and cannot be replaced without breaking its owner.
	qdiscs, err := netlinksafe.QdiscList(l)
	if err != nil {
		return fmt.Errorf("list qdiscs of %s: %w", l.Attrs().Name, err)
	}
	for _, q := range qdiscs {
		if q.Attrs().Parent != netlink.HANDLE_CLSACT {
			continue
		}
		if q.Type() == "clsact" {
			return nil
		}
		return fmt.Errorf("%s has an %s qdisc where tc probes need clsact (the bandwidth plugin adds one for an egress limit); "+
			"attach with TCX (Linux 6.6+) or remove the egress limit", l.Attrs().Name, q.Type())
	}
	return fmt.Errorf("add clsact qdisc to %s: the slot is taken, but no qdisc shows there", l.Attrs().Name)
}

// pinProgram pins the program open as progFD at path, a name of its own
// beside the shared pin it was opened from.
func pinProgram(progFD int, path string) error {
	if err := bpfsys.PinFD(progFD, path); err != nil {
		return fmt.Errorf("pin %s: %w", path, err)
	}
	return nil
}

// probeFilter is one of a probe's cls_bpf filters found on an interface.
type probeFilter struct {
	direction pins.Hook
	filter    *netlink.BpfFilter
}

// tcFilters returns podint's filters on l of the probes match accepts.
func tcFilters(l netlink.Link, match func(probeID string) bool) ([]probeFilter, error) {
	var found []probeFilter
	for _, d := range pins.HostHooks() {
		fs, err := netlinksafe.FilterList(l, tcParent(d))
		if err != nil {
			return nil, fmt.Errorf("list %s filters of %s: %w", d, l.Attrs().Name, err)
		}
		for _, f := range fs {
			bf, ok := f.(*netlink.BpfFilter)
			if !ok {
				continue
			}
			if id, ours := strings.CutPrefix(bf.Name, tcFilterPrefix); ours && match(id) {
				found = append(found, probeFilter{direction: d, filter: bf})
			}
		}
	}
	return found, nil
}

// tcLinks are the interfaces to search for tc filters: ifindex's, or all
// of them when ifindex is 0. A vanished interface took its filters along.
func tcLinks(ifindex int) ([]netlink.Link, error) {
	if ifindex != 0 {
		l, err := netlink.LinkByIndex(ifindex)
		var notFound netlink.LinkNotFoundError
		if errors.As(err, &notFound) || isGone(err) {
			return nil, nil
		}
		if err != nil {
			return nil, fmt.Errorf("find interface %d to remove its tc probe: %w", ifindex, err)
		}
		return []netlink.Link{l}, nil
	}
	links, err := netlinksafe.LinkList()
	if err != nil {
		return nil, fmt.Errorf("list interfaces to find tc probes: %w", err)
	}
	return links, nil
}

// detachTC removes the filters of the probes in ids from links.
func detachTC(links []netlink.Link, ids map[string]bool) error {
	var errs []error
	for _, l := range links {
		found, err := tcFilters(l, func(id string) bool { return ids[id] })
		if err != nil {
			if !isGone(err) {
				errs = append(errs, err)
			}
			continue
		}
		for _, pf := range found {
			a := pf.filter.FilterAttrs
			err := netlink.FilterDel(&netlink.BpfFilter{FilterAttrs: netlink.FilterAttrs{
				LinkIndex: a.LinkIndex, Parent: tcParent(pf.direction), Handle: a.Handle, Priority: a.Priority, Protocol: a.Protocol,
			}, Fd: -1})
			if err != nil && !isGone(err) {
				errs = append(errs, fmt.Errorf("remove %s filter %s from %s: %w", pf.direction, pf.filter.Name, l.Attrs().Name, err))
			}
		}
	}
	return errors.Join(errs...)
}

// isGone tells the errors of an interface or filter that vanished meanwhile.
func isGone(err error) bool {
	return errors.Is(err, unix.ENODEV) || errors.Is(err, unix.ENOENT) || errors.Is(err, os.ErrNotExist)
}

func verifyTC(pinDir, probeID string, ifindex int) error {
	l, err := netlink.LinkByIndex(ifindex)
	if err != nil {
		return fmt.Errorf("find interface %d: %w", ifindex, err)
	}
	found, err := tcFilters(l, func(id string) bool { return id == probeID })
	if err != nil {
		return err
	}
	for _, d := range pins.HostHooks() {
		pinned, err := bpfsys.Open(filepath.Join(pins.LinkDir(pinDir, probeID), pins.TCProgramPin(d)))
		if err != nil {
			return fmt.Errorf("%s probe pin missing: %w", d, err)
		}
		id, err := bpfsys.ProgramID(pinned)
		pinned.Close()
		if err != nil {
			return fmt.Errorf("%s probe pin: %w", d, err)
		}
		ok := false
		for _, pf := range found {
			ok = ok || (pf.direction == d && pf.filter.Id == int(id))
		}
		if !ok {
			return fmt.Errorf("%s cls_bpf filter %s running program %d is not on %s", d, tcFilterName(probeID), id, l.Attrs().Name)
		}
	}
	return nil
}
