package daemon

import (
	"sync/atomic"

	"github.com/podint/podint/bpf"
	"github.com/podint/podint/bpf/attach"
	"github.com/podint/podint/daemon/events"
	"github.com/podint/podint/daemon/registry"
	podintv1 "github.com/podint/podint/proto/podint/v1"
)

// migrationCounts say what this start replaced of an older version's
// pinned maps (bpf.Migration) and what that lost; they are in Stats.
type migrationCounts struct {
	mapsReplaced   atomic.Uint64 // pinned maps replaced for another layout
	flowsForgotten atomic.Uint64 // flows of a replaced flow table: each reports once more as new
	eventsDrained  atomic.Uint64 // unread events of a replaced ring buffer, read and reported
	eventsLost     atomic.Uint64 // bytes of unread events of a replaced ring buffer of another record layout
	podPortsLost   atomic.Uint64 // pod-side probes whose host port could not be written into a replaced pod_ports
}

// logMigration says what the load replaced and what that costs.
func (d *Daemon) logMigration() {
	mig := d.collection.Migration()
	for _, r := range mig.Removed {
		d.log.Warn("upgrade: removed the pin of a map this version does not use", "map", r.Name, "entries_in_use", r.InUse,
			"lost", "what it held (of an older flow table: each of its flows reports once more as new)")
		d.countFlows(r)
	}
	for _, r := range mig.Replaced {
		d.migrated.mapsReplaced.Add(1)
		args := []any{"map", r.Name, "reason", r.Why}
		if r.InUse >= 0 {
			args = append(args, "entries_in_use", r.InUse)
		}
		switch r.Name {
		case "flow_sets", "flow_entries":
			d.countFlows(r)
			args = append(args, "lost", "the flow state: each of these flows reports once more as new")
		case "events":
			args = append(args, "unread_bytes", r.UnreadBytes)
			if mig.Undecodable {
				if r.UnreadBytes > 0 {
					d.migrated.eventsLost.Add(uint64(r.UnreadBytes))
				}
				args = append(args, "lost", "its unread events: their layout is not this version's")
			} else {
				args = append(args, "lost", "nothing: its unread events are reported first")
			}
		case "counters", "drops_excluded":
			args = append(args, "lost", "the counts so far: they start again from 0")
		case "pod_ports", "ports", "watchlist", "drop_policy", "probe_settings":
			args = append(args, "lost", "nothing: podintd writes it again")
		}
		d.log.Warn("upgrade: a pinned map of an older layout is replaced", args...)
	}
}

// countFlows counts the flows a replaced or removed flow table held: one
// per entry in use of its entries' map (a layout that renames it names it
// here too).
func (d *Daemon) countFlows(r bpf.ReplacedMap) {
	if r.Name == "flow_entries" && r.InUse > 0 {
		d.migrated.flowsForgotten.Add(uint64(r.InUse))
	}
}

// replacedMap reports whether the load replaced the pinned map called name.
func (d *Daemon) replacedMap(name string) bool {
	for _, r := range d.collection.Migration().Replaced {
		if r.Name == name {
			return true
		}
	}
	return false
}

// restorePodPorts writes the host port of every registered pod-side probe
// into a pod_ports map the load replaced (the plugin writes it at ADD).
func (d *Daemon) restorePodPorts() {
	if !d.replacedMap("pod_ports") {
		return
	}
	for _, p := range d.store.Probes() {
		if p.GetKind() != podintv1.PortKind_PORT_KIND_POD || len(p.GetPodHooks()) == 0 {
			continue
		}
		id := registry.ID(p)
		err := attach.RestorePodPort(d.paths.PinDir, id, p.GetPod().GetNetns(), int(p.GetIfindex()))
		if err != nil {
			d.migrated.podPortsLost.Add(1)
			d.log.Warn("upgrade: the pod-side probe's host port is unknown to the new pod_ports map: "+
				"it reports the pod's packets without their host port until the pod is added again", "probe", id, "err", err)
		}
	}
}

// drainReplacedEvents reports the events an older version's ring buffer
// held unread, once every probe writes to the new one (reconcile moved
// them): they come before what the new ring buffer holds. Then it lets the
// replaced maps go.
func (d *Daemon) drainReplacedEvents() {
	mig := d.collection.Migration()
	defer mig.Close() // the kernel frees the replaced maps once no program uses them
	old := mig.OldEvents()
	if old == nil {
		return
	}
	rd, err := events.NewReader(old, d.log)
	if err != nil {
		d.log.Warn("upgrade: cannot read the replaced ring buffer: its unread events are lost", "err", err)
		return
	}
	defer rd.Close()
	n := rd.Drain(func(ev *bpf.Event) { d.deliver(ev) })
	d.migrated.eventsDrained.Add(uint64(n))
	d.log.Info("upgrade: reported the unread events of the replaced ring buffer", "events", n, "malformed", rd.Malformed())
}
