package daemon

import (
	"context"
	"time"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/podint/podint/bpf/attach"
	"github.com/podint/podint/daemon/podnet"
	"github.com/podint/podint/daemon/registry"
	podintv1 "github.com/podint/podint/proto/podint/v1"
)

// vanishedSweepInterval is how often every registration's veth is checked,
// the backstop for link events the kernel dropped (a netlink socket that
// overran) or a subscription that failed.
const vanishedSweepInterval = 30 * time.Second

// watchVanished forgets pod probes whose veth is gone. The plugin's DEL
// does that when it runs, but a pod can go without it reaching podint: the
// primary CNI rewrote the conflist without podint and the installer has not
// put it back yet, or the runtime lost its state and never calls DEL. The
// registration and pins would stay until the next start; a link deletion
// event (or the periodic sweep) drops them now, counted as
// probes_removed_vanished.
func (d *Daemon) watchVanished(ctx context.Context) error {
	updates := make(chan netlink.LinkUpdate, 256)
	done := make(chan struct{})
	defer close(done)
	err := netlink.LinkSubscribeWithOptions(updates, done, netlink.LinkSubscribeOptions{
		ErrorCallback: func(err error) { d.log.Warn("link events", "err", err) },
	})
	if err != nil {
		d.log.Warn("no link events: removed veths are found by the periodic sweep only", "err", err, "interval", vanishedSweepInterval)
		updates = nil
	}
	tick := time.NewTicker(vanishedSweepInterval)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case u, ok := <-updates:
			if !ok { // the subscription ended (its socket failed): the sweep remains
				d.log.Warn("link events stopped: removed veths are found by the periodic sweep only", "interval", vanishedSweepInterval)
				updates = nil
				continue
			}
			// Only the probes on the deleted link are checked: a node
			// deleting pods' veths would otherwise ask the kernel about
			// every probe for each one.
			if u.Header.Type == unix.RTM_DELLINK && u.Attrs() != nil {
				d.sweepVanished(u.Attrs().Index)
			}
		case <-tick.C:
			d.sweepVanished(0)
		}
	}
}

// sweepVanished forgets the pod probes on ifindex (0: every pod probe)
// whose veth no longer exists.
func (d *Daemon) sweepVanished(ifindex int) {
	for _, p := range d.store.Probes() {
		if p.GetKind() != podintv1.PortKind_PORT_KIND_POD || (ifindex != 0 && int(p.GetIfindex()) != ifindex) ||
			podnet.Exists(int(p.GetIfindex()), p.GetHostInterface()) {
			continue
		}
		id := registry.ID(p)
		// The veth took its hooks with it; what is left are the pins. They
		// go before the registration, so that a probe no longer listed has
		// no pins either.
		if err := attach.Detach(d.paths.PinDir, id, 0); err != nil {
			d.log.Warn("cannot remove the pins of a probe whose veth is gone", "probe", id, "err", err)
		}
		_ = d.collection.RemovePort(int(p.GetIfindex()))
		d.removePending(id)
		if found, err := d.store.Delete(id); err != nil || !found {
			continue // the plugin's DEL got there first
		}
		d.vanished.Add(1)
		d.log.Info("probe removed: its veth is gone and no CNI DEL reached podint", "probe", id,
			"pod", p.GetPod().GetNamespace()+"/"+p.GetPod().GetName(), "host_interface", p.GetHostInterface())
	}
}
