package bpf

import (
	"errors"
	"fmt"
	"os"
	"slices"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/ringbuf"
	"golang.org/x/sys/unix"

	"github.com/podint/podint/bpf/pins"
)

// An upgrade whose programs cannot use a pinned map replaces that map, and
// only that map (with the maps whose contents depend on it): a ring buffer
// the new programs can use keeps its unread events, counters keep counting,
// the flow table its flows. Each map is checked twice: the kernel's check
// (type, key and value sizes, size, flags) and its recorded layout
// (layout.go), which catches a value whose fields changed but not its
// size. Pins from before the layout record pass on the kernel's check
// alone, as they always did.
//
// The replacement maps are created unpinned, the programs are loaded with
// them, and only then are they pinned over the old ones (a rename: the
// path is never empty), before the programs are pinned: a CNI ADD that
// opens the new programs finds the new maps. The old maps live on while a
// probe still runs an old program; the daemon then moves every hook to the
// new programs (adoption, as for any restart), and the kernel frees them.

// replacedTogether are maps whose contents refer to each other: replacing
// one empties the others. The flow table's sets hold the tags of its
// entries; a flow's watched decision is valid for the settings'
// watchlist generation, which a fresh settings map starts again.
var replacedTogether = []mapGroup{{"flow_sets", "flow_entries", "probe_settings"}}

// mapGroup names maps replaced together.
type mapGroup []string

// ReplacedMap is a pinned map an upgrade replaced, and what was in it.
type ReplacedMap struct {
	Name string
	Why  string
	// InUse is how many of its entries held something (a hash map's keys,
	// an array's non-zero values); -1 where it cannot be told (per-CPU
	// maps, the ring buffer).
	InUse int
	// UnreadBytes is what the probes had written to a replaced ring
	// buffer that no reader had read.
	UnreadBytes int
}

// Migration is what Load replaced of an older podint's pinned maps.
type Migration struct {
	Replaced []ReplacedMap
	// Removed are the pinned maps no program of this version uses (an
	// older version's, under names this one does not have): their pins
	// are removed.
	Removed []ReplacedMap
	// Undecodable is true when the replaced ring buffer's records have
	// another layout than this version's events: its unread events are
	// lost, not drained.
	Undecodable bool
	oldEvents   *ebpf.Map
	old         []*ebpf.Map
}

// OldEvents is the replaced ring buffer, when its unread events can be
// read as this version's: the daemon drains it once no probe writes to it.
func (m *Migration) OldEvents() *ebpf.Map { return m.oldEvents }

// Close releases the replaced maps; the kernel frees each once no program
// uses it any more.
func (m *Migration) Close() {
	for _, o := range m.old {
		o.Close()
	}
	m.old, m.oldEvents = nil, nil
}

// mapPlan is how Load gets each pinned map: from its pin, or fresh in its
// place.
type mapPlan struct {
	pinDir  string
	layouts map[string]layoutHash // every pinned map of the programs
	fresh   map[string]*ebpf.Map  // replacements, pinned by commit
	mig     Migration
}

// planMaps opens the pinned maps of specs and decides which to replace.
func planMaps(pinDir string, specs ...*ebpf.CollectionSpec) (*mapPlan, error) {
	recorded, err := readLayouts(pinDir)
	if err != nil {
		return nil, err
	}
	p := &mapPlan{pinDir: pinDir, layouts: map[string]layoutHash{}, fresh: map[string]*ebpf.Map{}}
	specOf := map[string]*ebpf.MapSpec{}
	open := map[string]*ebpf.Map{}
	why := map[string]string{}
	var names []string
	for _, spec := range specs {
		for name, ms := range spec.Maps {
			if ms.Pinning != ebpf.PinByName || specOf[name] != nil {
				continue
			}
			if p.layouts[name], err = mapLayout(spec, name); err != nil {
				return nil, err
			}
			specOf[name] = ms
			names = append(names, name)
		}
	}
	slices.Sort(names)
	for _, name := range names {
		m, err := ebpf.LoadPinnedMap(pins.MapPath(pinDir, name), nil)
		if errors.Is(err, os.ErrNotExist) {
			continue // created and pinned by the load
		}
		if err != nil {
			p.mig.Close()
			return nil, fmt.Errorf("open pinned map %s: %w%s", pins.MapPath(pinDir, name), err, fixHint(pinDir, err))
		}
		open[name] = m
		p.mig.old = append(p.mig.old, m)
		if err := specOf[name].Compatible(m); err != nil {
			why[name] = err.Error()
		} else if rec, ok := recorded[name]; ok && rec != p.layouts[name] {
			why[name] = "the layout of its contents changed"
		}
	}
	for _, group := range replacedTogether {
		var cause string
		for _, name := range group {
			if why[name] != "" && cause == "" {
				cause = "replaced with " + name
			}
		}
		for _, name := range group {
			if cause != "" && why[name] == "" && open[name] != nil {
				why[name] = cause
			}
		}
	}
	for _, name := range names {
		if why[name] == "" {
			continue
		}
		ms := specOf[name].Copy()
		ms.Pinning = ebpf.PinNone
		m, err := ebpf.NewMap(ms)
		if err != nil {
			p.close()
			return nil, fmt.Errorf("create map %s to replace the incompatible pinned one: %w", name, err)
		}
		p.fresh[name] = m
		r := ReplacedMap{Name: name, Why: why[name], InUse: inUse(open[name])}
		if name == "events" {
			r.UnreadBytes = unreadBytes(open[name])
			if rec, ok := recorded[name]; ok && rec == p.layouts[name] {
				p.mig.oldEvents = open[name]
			} else {
				p.mig.Undecodable = true
			}
		}
		p.mig.Replaced = append(p.mig.Replaced, r)
	}
	return p, nil
}

// options are the load options of spec: the pinned maps from their pins,
// the replaced ones fresh.
func (p *mapPlan) options(spec *ebpf.CollectionSpec) *ebpf.CollectionOptions {
	opts := &ebpf.CollectionOptions{Maps: ebpf.MapOptions{PinPath: pins.MapsDir(p.pinDir)}}
	for name, m := range p.fresh {
		if _, ok := spec.Maps[name]; ok {
			if opts.MapReplacements == nil {
				opts.MapReplacements = map[string]*ebpf.Map{}
			}
			opts.MapReplacements[name] = m
		}
	}
	return opts
}

// commit pins the replacement maps over the old ones, records every
// pinned map's layout, and removes the pins of maps no program of this
// version has.
func (p *mapPlan) commit() error {
	for _, r := range p.mig.Replaced {
		path := pins.MapPath(p.pinDir, r.Name)
		if err := pins.Replace(path, p.fresh[r.Name].Pin); err != nil {
			return fmt.Errorf("replace pinned map %s (%s): %w%s", path, r.Why, err, fixHint(p.pinDir, err))
		}
	}
	if err := writeLayouts(p.pinDir, p.layouts); err != nil {
		return err
	}
	ents, err := os.ReadDir(pins.MapsDir(p.pinDir))
	if err != nil {
		return fmt.Errorf("list pinned maps: %w", err)
	}
	for _, e := range ents {
		if _, ours := p.layouts[e.Name()]; ours {
			continue
		}
		path := pins.MapPath(p.pinDir, e.Name())
		r := ReplacedMap{Name: e.Name(), Why: "no program of this version uses it", InUse: -1}
		if m, err := ebpf.LoadPinnedMap(path, &ebpf.LoadPinOptions{ReadOnly: true}); err == nil {
			r.InUse = inUse(m)
			m.Close()
		}
		if err := os.Remove(path); err != nil {
			return fmt.Errorf("remove pinned map %s, which this podint does not use: %w", path, err)
		}
		p.mig.Removed = append(p.mig.Removed, r)
	}
	return nil
}

// close releases the plan's maps; the migration's stay open for its owner.
func (p *mapPlan) close() {
	for _, m := range p.fresh {
		m.Close()
	}
	p.mig.Close()
}

// fixHint says what to do about a pin podintd may not write.
func fixHint(pinDir string, err error) string {
	if !errors.Is(err, unix.EROFS) && !errors.Is(err, unix.EACCES) && !errors.Is(err, unix.EPERM) {
		return ""
	}
	return fmt.Sprintf("; podintd needs write access to %s (a bpffs mounted read-only?), or remove %s to start afresh",
		pins.MapsDir(pinDir), pins.MapsDir(pinDir))
}

// inUse counts a map's entries that hold something.
func inUse(m *ebpf.Map) int {
	switch m.Type() {
	case ebpf.PerCPUArray, ebpf.PerCPUHash, ebpf.LRUCPUHash, ebpf.RingBuf:
		return -1
	}
	k := make([]byte, m.KeySize())
	v := make([]byte, m.ValueSize())
	n := 0
	it := m.Iterate()
	for it.Next(&k, &v) {
		if m.Type() != ebpf.Array || slices.ContainsFunc(v, func(b byte) bool { return b != 0 }) {
			n++
		}
	}
	if it.Err() != nil {
		return -1
	}
	return n
}

// unreadBytes is what waits in a ring buffer.
func unreadBytes(m *ebpf.Map) int {
	rd, err := ringbuf.NewReader(m)
	if err != nil {
		return -1
	}
	defer rd.Close()
	return rd.AvailableBytes()
}
