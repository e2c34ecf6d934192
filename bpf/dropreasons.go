package bpf

import (
	"fmt"
	"sync"

	"github.com/cilium/ebpf/btf"
)

// The kernel's enum skb_drop_reason differs between kernels (values are
// inserted as reasons are added), so it is read from the running kernel's
// BTF, never hard-coded.
var kernelDropReasons = sync.OnceValues(func() (map[uint32]string, error) {
	spec, err := btf.LoadKernelSpec()
	if err != nil {
		return nil, fmt.Errorf("load kernel BTF: %w", err)
	}
	var enum *btf.Enum
	if err := spec.TypeByName("skb_drop_reason", &enum); err != nil {
		return nil, fmt.Errorf("kernel BTF has no enum skb_drop_reason (kernel older than 5.17?): %w", err)
	}
	m := make(map[uint32]string, len(enum.Values))
	for _, v := range enum.Values {
		m[uint32(v.Value)] = v.Name
	}
	return m, nil
})

// KernelDropReasonName names a kernel drop reason value, e.g.
// "SKB_DROP_REASON_NETFILTER_DROP"; "" when the kernel does not know it.
func KernelDropReasonName(v uint32) string {
	m, err := kernelDropReasons()
	if err != nil {
		return ""
	}
	return m[v]
}

// KernelDropReasonValue is the running kernel's value for a reason name.
func KernelDropReasonValue(name string) (uint32, error) {
	m, err := kernelDropReasons()
	if err != nil {
		return 0, err
	}
	for v, n := range m {
		if n == name {
			return v, nil
		}
	}
	return 0, fmt.Errorf("kernel has no drop reason %s", name)
}
