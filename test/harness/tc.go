package harness

import (
	"strings"

	"github.com/vishvananda/netlink"
)

// TCProbeFilters counts podint's cls_bpf filters (named podint:<probe>) on
// ifindex in the node, for ingress and egress: what tc-mode probes add.
func (n *Node) TCProbeFilters(ifindex int) (ingress, egress int, err error) {
	err = n.NS.Do(func() error {
		l, err := netlink.LinkByIndex(ifindex)
		if err != nil {
			return err
		}
		for _, parent := range []uint32{netlink.HANDLE_MIN_INGRESS, netlink.HANDLE_MIN_EGRESS} {
			fs, err := netlink.FilterList(l, parent)
			if err != nil {
				return err
			}
			for _, f := range fs {
				if bf, ok := f.(*netlink.BpfFilter); ok && strings.HasPrefix(bf.Name, "podint:") {
					if parent == netlink.HANDLE_MIN_INGRESS {
						ingress++
					} else {
						egress++
					}
				}
			}
		}
		return nil
	})
	return ingress, egress, err
}
