package daemon

import (
	"slices"
	"strings"
	"sync/atomic"

	"google.golang.org/protobuf/encoding/protojson"

	"github.com/podint/podint/bpf/attach"
	"github.com/podint/podint/bpf/pins"
	"github.com/podint/podint/daemon/cnicache"
	"github.com/podint/podint/daemon/podnet"
	"github.com/podint/podint/daemon/registry"
	"github.com/podint/podint/internal/registration"
	podintv1 "github.com/podint/podint/proto/podint/v1"
)

// reconcileCounts say what the last start found; they are in Stats.
type reconcileCounts struct {
	adopted   atomic.Uint64 // pinned probes kept, their hooks updated to this daemon's programs
	rebuilt   atomic.Uint64 // pinned probes without registration, registered again
	removed   atomic.Uint64 // probes or registrations whose veth or pins were gone
	updateErr atomic.Uint64 // probes whose hooks could not be updated in place
}

// reconcile makes registrations, pins and the kernel agree after the
// daemon was away (crashed, restarted, upgraded), in this order:
//
//   - a registration whose veth is gone: its pins are removed, it is forgotten;
//   - a registration without pins (the plugin's DEL ran while the daemon was
//     down, and could not unregister): it is forgotten;
//   - pins without registration (an ADD while the daemon was down): the
//     registration is rebuilt from the plugin's pending file, else the
//     runtime's CNI result cache, else what the kernel says of the veth;
//   - pins of an uplink no longer configured: removed;
//   - every probe kept is updated in place to run this daemon's programs.
//
// It logs what it changes and never fails: a probe it cannot adopt is left
// as it is, and said so.
func (d *Daemon) reconcile(uplinks []string) {
	pinned, err := attach.AttachedProbes(d.paths.PinDir)
	if err != nil {
		d.log.Error("reconcile: cannot list pinned probes", "err", err)
		return
	}
	isPinned := map[string]bool{}
	for _, id := range pinned {
		isPinned[id] = true
	}
	for _, p := range d.store.Probes() {
		if p.GetKind() != podintv1.PortKind_PORT_KIND_POD {
			continue
		}
		id := registry.ID(p)
		switch {
		case !podnet.Exists(int(p.GetIfindex()), p.GetHostInterface()):
			d.forget(id, p, "its veth is gone")
		case !isPinned[id]:
			d.forget(id, p, "its probe was removed while podintd was down")
		}
	}
	var cache map[string]cnicache.Attachment // read once, when needed
	for _, id := range pinned {
		if pins.IsUplinkProbeID(id) {
			if !slices.ContainsFunc(uplinks, func(n string) bool { return pins.UplinkProbeID(n) == id }) {
				d.detach(id, 0, "its uplink is no longer configured")
			}
			continue
		}
		if _, ok := d.store.Get(id); ok {
			continue
		}
		if cache == nil {
			cache = d.readCNICache()
		}
		d.rebuild(id, cache)
	}
	d.removeStalePending()
	d.adoptAll()
}

// forget drops a registration and whatever is left of its probe.
func (d *Daemon) forget(id string, p *podintv1.Probe, why string) {
	d.detach(id, int(p.GetIfindex()), why)
	if _, err := d.store.Delete(id); err != nil {
		d.log.Warn("reconcile: cannot remove registration", "probe", id, "err", err)
	}
}

// detach removes a probe's pins (and tc filters) and its port mark.
func (d *Daemon) detach(id string, ifindex int, why string) {
	if err := attach.Detach(d.paths.PinDir, id, ifindex); err != nil {
		d.log.Warn("reconcile: cannot remove probe", "probe", id, "err", err)
	}
	if ifindex != 0 {
		_ = d.collection.RemovePort(ifindex)
	}
	d.removePending(id)
	d.reconciled.removed.Add(1)
	d.log.Info("probe removed", "probe", id, "ifindex", ifindex, "reason", why)
}

// rebuild registers a pinned probe the daemon has no registration of.
func (d *Daemon) rebuild(id string, cache map[string]cnicache.Attachment) {
	ifindex, err := attach.PinnedIfindex(d.paths.PinDir, id)
	if err != nil {
		d.log.Warn("reconcile: probe pinned but unreadable; left as it is", "probe", id, "err", err)
		return
	}
	if ifindex == 0 {
		d.detach(id, 0, "its veth is gone")
		return
	}
	hostIf, err := podnet.HostVeth(ifindex)
	if err != nil {
		d.detach(id, ifindex, err.Error())
		return
	}
	p, source := d.pending(id), "pending registration"
	if p == nil {
		if a, ok := cache[id]; ok {
			p, source = &podintv1.Probe{Pod: a.Pod()}, "CNI result cache"
		}
	}
	if p == nil {
		// Only the kernel is left to ask: the veth, and the attachment the
		// pins are named after (<container id>_<interface>; container ids
		// have no underscore).
		cid, podIf, _ := strings.Cut(id, "_")
		p, source = &podintv1.Probe{Pod: &podintv1.Pod{ContainerId: cid, Interface: podIf}}, "interface scan"
	}
	p.Ifindex, p.HostInterface = uint32(ifindex), hostIf
	p.Kind = podintv1.PortKind_PORT_KIND_POD
	p.AttachMode = string(attach.PinnedMode(d.paths.PinDir, id))
	p.PodHooks = attach.PodHooks(d.paths.PinDir, id)
	if pod := p.GetPod(); pod.GetNetns() != "" && pod.GetMac() == "" {
		if v, err := podnet.VerifyPodVeth(ifindex, hostIf, pod.GetNetns(), pod.GetInterface()); err == nil {
			pod.Mac = v.PodMAC
		}
	}
	if registry.ID(p) != id {
		d.log.Warn("reconcile: rebuilt registration does not match its pins; left unregistered",
			"probe", id, "rebuilt", registry.ID(p), "source", source)
		return
	}
	if err := d.store.Put(p); err != nil {
		d.log.Warn("reconcile: cannot register probe", "probe", id, "err", err)
		return
	}
	d.removePending(id)
	d.reconciled.rebuilt.Add(1)
	d.log.Info("probe registered again", "probe", id, "ifindex", ifindex, "interface", hostIf, "source", source,
		"pod", p.GetPod().GetNamespace()+"/"+p.GetPod().GetName())
}

// adoptAll marks every probe's port and puts this daemon's programs into
// its hooks, so an upgrade reaches every pod without detaching any.
func (d *Daemon) adoptAll() {
	keep := map[int]bool{}
	for _, p := range d.store.Probes() {
		idx := int(p.GetIfindex())
		keep[idx] = true
		if err := d.collection.AddPort(idx); err != nil {
			d.log.Warn("reconcile: cannot mark port", "ifindex", idx, "err", err)
		}
		if p.GetKind() == podintv1.PortKind_PORT_KIND_UPLINK {
			continue // attached afresh at start
		}
		if _, err := attach.Update(d.paths.PinDir, registry.ID(p), idx, d.collection.ProgramFD); err != nil {
			d.reconciled.updateErr.Add(1)
			d.log.Warn("probe keeps its earlier programs: in-place update failed", "probe", registry.ID(p), "err", err)
			continue
		}
		d.reconciled.adopted.Add(1)
	}
	d.restorePodPorts()
	// Ports of probes that are gone must not keep reporting drops.
	if ports, err := d.collection.Ports(); err == nil {
		for _, idx := range ports {
			if !keep[idx] {
				_ = d.collection.RemovePort(idx)
			}
		}
	}
	// Pod-side probes find their host port by pod interface; entries of
	// veths that are gone (a DEL after the veth went) are stale. An entry
	// of a live veth stays even unregistered: an ADD under way writes it
	// before it registers.
	live := func(host int) bool { return keep[host] || podnet.Exists(host, "") }
	if err := attach.PrunePodPorts(d.paths.PinDir, live); err != nil {
		d.log.Warn("reconcile: cannot prune pod ports", "err", err)
	}
}

// readCNICache indexes the runtime's cached CNI results by probe id.
func (d *Daemon) readCNICache() map[string]cnicache.Attachment {
	dir := d.cfg.CNICacheDirValue()
	list, err := cnicache.List(dir)
	if err != nil {
		d.log.Warn("reconcile: CNI result cache partly unreadable", "dir", dir, "err", err)
	}
	out := make(map[string]cnicache.Attachment, len(list))
	for _, a := range list {
		out[pins.ProbeID(a.ContainerID, a.IfName)] = a
	}
	return out
}

// pending reads the registration the plugin left for the probe, if any.
func (d *Daemon) pending(id string) *podintv1.Probe {
	b, err := registration.ReadPending(d.paths.PendingDir, id)
	if err != nil {
		d.log.Warn("reconcile: pending registration unreadable", "probe", id, "err", err)
	}
	if b == nil {
		return nil
	}
	p := &podintv1.Probe{}
	if err := protojson.Unmarshal(b, p); err != nil {
		d.log.Warn("reconcile: pending registration unreadable", "probe", id, "err", err)
		return nil
	}
	return p
}

func (d *Daemon) removePending(id string) {
	if err := registration.RemovePending(d.paths.PendingDir, id); err != nil {
		d.log.Warn("cannot remove pending registration", "probe", id, "err", err)
	}
}

// removeStalePending drops pending registrations of probes that are gone.
func (d *Daemon) removeStalePending() {
	for _, id := range registration.PendingProbeIDs(d.paths.PendingDir) {
		if _, registered := d.store.Get(id); !registered && attach.PinnedMode(d.paths.PinDir, id) == "" {
			d.removePending(id)
		}
	}
}
