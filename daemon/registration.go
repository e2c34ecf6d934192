package daemon

import (
	"fmt"

	"github.com/podint/podint/bpf"
	"github.com/podint/podint/bpf/attach"
	"github.com/podint/podint/bpf/pins"
	"github.com/podint/podint/daemon/podnet"
	"github.com/podint/podint/daemon/registry"
	podintv1 "github.com/podint/podint/proto/podint/v1"
)

// verify checks a registration against the node before it is stored: the
// port is a veth of the node whose peer is the named interface in the
// given pod netns, and a probe is pinned for it. It fills in what the
// kernel knows and the plugin did not say (the pod interface's MAC).
func (d *Daemon) verify(p *podintv1.Probe) error {
	pod := p.GetPod()
	v, err := podnet.VerifyPodVeth(int(p.GetIfindex()), p.GetHostInterface(), pod.GetNetns(), pod.GetInterface())
	if err != nil {
		return err
	}
	id := registry.ID(p)
	if attach.PinnedMode(d.paths.PinDir, id) == "" {
		return fmt.Errorf("no probe is attached for it (nothing pinned under %s): the CNI plugin attaches before it registers",
			pins.LinkDir(d.paths.PinDir, id))
	}
	p.HostInterface = v.HostName
	if pod.GetMac() == "" {
		pod.Mac = v.PodMAC
	}
	return nil
}

// registered marks the new probe's port, so drops through it are reported.
func (d *Daemon) registered(p *podintv1.Probe) {
	if err := d.collection.AddPort(int(p.GetIfindex())); err != nil {
		d.log.Warn("cannot mark port for drop reports", "ifindex", p.GetIfindex(), "err", err)
	}
	d.removePending(registry.ID(p))
}

// unregistered forgets the probe's port; p is nil for an unknown probe.
func (d *Daemon) unregistered(id string, p *podintv1.Probe) {
	if p != nil {
		_ = d.collection.RemovePort(int(p.GetIfindex()))
	}
	d.removePending(id)
}

// detachAll removes every probe and forgets the registrations, for
// --detach-on-exit: podint leaves the node as it found it.
func (d *Daemon) detachAll() {
	ids, err := attach.AttachedProbes(d.paths.PinDir)
	if err != nil {
		d.log.Error("detach on exit: cannot list probes", "err", err)
	}
	if err := attach.DetachProbes(d.paths.PinDir, ids); err != nil {
		d.log.Error("detach on exit: some probes remain", "err", err)
	}
	if err := bpf.DetachDrops(d.paths.PinDir); err != nil {
		d.log.Error("detach on exit: drop probe remains", "err", err)
	}
	if err := bpf.DetachCPUPort(d.paths.PinDir); err != nil {
		d.log.Error("detach on exit: CPU port programs remain", "err", err)
	}
	for _, p := range d.store.Probes() {
		_, _ = d.store.Delete(registry.ID(p))
		_ = d.collection.RemovePort(int(p.GetIfindex()))
	}
	d.log.Info("every probe detached (--detach-on-exit)", "probes", len(ids))
}
