package bpf

import (
	"errors"
	"fmt"

	"github.com/cilium/ebpf"
)

// AddPort marks ifindex as a probed port of the node, so that drops of
// packets entering or leaving through it are reported.
func (p *Collection) AddPort(ifindex int) error {
	if err := p.objs.Ports.Put(uint32(ifindex), uint32(1)); err != nil {
		return fmt.Errorf("add port %d: %w", ifindex, err)
	}
	return nil
}

// RemovePort forgets ifindex; unknown ports are not an error.
func (p *Collection) RemovePort(ifindex int) error {
	err := p.objs.Ports.Delete(uint32(ifindex))
	if err != nil && !errors.Is(err, ebpf.ErrKeyNotExist) {
		return fmt.Errorf("remove port %d: %w", ifindex, err)
	}
	return nil
}

// Ports lists the ports marked as probed.
func (p *Collection) Ports() ([]int, error) {
	var out []int
	var k, v uint32
	it := p.objs.Ports.Iterate()
	for it.Next(&k, &v) {
		out = append(out, int(k))
	}
	return out, it.Err()
}
