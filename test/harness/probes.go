package harness

import (
	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/link"
)

// TCXPrograms counts the TCX programs attached to ifindex in the node, for
// ingress and egress.
func (n *Node) TCXPrograms(ifindex int) (ingress, egress int, err error) {
	err = n.NS.Do(func() error {
		for _, at := range []ebpf.AttachType{ebpf.AttachTCXIngress, ebpf.AttachTCXEgress} {
			res, err := link.QueryPrograms(link.QueryOptions{Target: ifindex, Attach: at})
			if err != nil {
				return err
			}
			if at == ebpf.AttachTCXIngress {
				ingress = len(res.Programs)
			} else {
				egress = len(res.Programs)
			}
		}
		return nil
	})
	return ingress, egress, err
}
