package daemon

// The node facts the daemon reads from the kernel when the configuration
// leaves them out (package config does no I/O).

import (
	"errors"
	"fmt"
	"net"
	"net/netip"

	"github.com/vishvananda/netlink"

	"github.com/podint/podint/daemon/config"
)

// switchID resolves the switch id: the configured address, or the
// first IPv4 address of the interface holding the default route.
func switchID(c config.Config) (netip.Addr, error) {
	if c.SwitchID != "" {
		return netip.ParseAddr(c.SwitchID)
	}
	link, err := defaultRouteLink()
	if err != nil {
		return netip.Addr{}, fmt.Errorf("switch-id not set and %w", err)
	}
	addrs, err := netlink.AddrList(link, netlink.FAMILY_V4)
	if err != nil || len(addrs) == 0 {
		return netip.Addr{}, fmt.Errorf("switch-id not set and %s has no IPv4 address; pass --switch-id", link.Attrs().Name)
	}
	a, _ := netip.AddrFromSlice(addrs[0].IP.To4())
	return a, nil
}

// defaultRouteLink is the interface of the IPv4 (else IPv6) default route.
func defaultRouteLink() (netlink.Link, error) {
	for _, fam := range []int{netlink.FAMILY_V4, netlink.FAMILY_V6} {
		routes, err := netlink.RouteList(nil, fam)
		if err != nil {
			continue
		}
		for _, r := range routes {
			isDefault := r.Dst == nil || r.Dst.IP.IsUnspecified() && isZeroMask(r.Dst.Mask)
			if isDefault && r.LinkIndex > 0 {
				return netlink.LinkByIndex(r.LinkIndex)
			}
		}
	}
	return nil, errors.New("no default route to find the node's uplink; pass --switch-id and --uplink")
}

func isZeroMask(m net.IPMask) bool {
	ones, _ := m.Size()
	return ones == 0
}
