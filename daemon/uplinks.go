package daemon

import (
	"fmt"
	"net/netip"

	"github.com/vishvananda/netlink"

	"github.com/podint/podint/bpf/attach"
	"github.com/podint/podint/bpf/pins"
	"github.com/podint/podint/daemon/config"
	podintv1 "github.com/podint/podint/proto/podint/v1"
)

// uplinkNames resolves the configured uplinks: the names given, none, or
// the interface of the default route.
func uplinkNames(cfg config.Config) ([]string, error) {
	if len(cfg.Uplinks) == 1 && cfg.Uplinks[0] == "none" {
		return nil, nil
	}
	if len(cfg.Uplinks) > 0 {
		return cfg.Uplinks, nil
	}
	l, err := defaultRouteLink()
	if err != nil {
		return nil, err
	}
	return []string{l.Attrs().Name}, nil
}

// attachUplinks probes every uplink, so traffic to and from other nodes is
// reported with the uplink as its port.
func (d *Daemon) attachUplinks(names []string) error {
	for _, name := range names {
		l, err := netlink.LinkByName(name)
		if err != nil {
			return fmt.Errorf("uplink %q: %w (see --uplink)", name, err)
		}
		idx := l.Attrs().Index
		mode, err := d.attachUplink(pins.UplinkProbeID(name), idx)
		if err != nil {
			return fmt.Errorf("uplink %q: %w", name, err)
		}
		if err := d.collection.AddPort(idx); err != nil {
			return err
		}
		p := &podintv1.Probe{Ifindex: uint32(idx), HostInterface: name,
			Kind: podintv1.PortKind_PORT_KIND_UPLINK, AttachMode: string(mode), Addresses: linkAddrs(l)}
		if err := d.store.Put(p); err != nil {
			return err
		}
		d.log.Info("uplink probed", "interface", name, "ifindex", idx, "addresses", p.Addresses)
	}
	return nil
}

func linkAddrs(l netlink.Link) []string {
	addrs, _ := netlink.AddrList(l, netlink.FAMILY_ALL)
	var out []string
	for _, a := range addrs {
		if ip, ok := netip.AddrFromSlice(a.IP); ok && !ip.IsLinkLocalUnicast() {
			out = append(out, a.IPNet.String())
		}
	}
	return out
}

// attachUplink keeps the uplink's probe an earlier daemon left, with this
// daemon's programs put in place, so the uplink is never unobserved across
// a restart; otherwise it attaches one.
func (d *Daemon) attachUplink(id string, ifindex int) (attach.Mode, error) {
	if idx, err := attach.PinnedIfindex(d.paths.PinDir, id); err == nil && idx == ifindex {
		mode, err := attach.Update(d.paths.PinDir, id, ifindex, d.collection.ProgramFD)
		if err == nil {
			return mode, nil
		}
		d.log.Warn("uplink probe cannot be updated in place; attaching it again", "probe", id, "err", err)
	}
	return attach.Attach(d.paths.PinDir, id, ifindex, attach.Options{})
}
