package bpf

import (
	"fmt"

	"github.com/cilium/ebpf"
	"golang.org/x/sys/unix"

	"github.com/podint/podint/bpf/pins"
)

// ProgramStat is one probe program's run time statistics. The kernel counts
// only while BPF statistics are enabled (EnableStats or the sysctl
// kernel.bpf_stats_enabled=1).
type ProgramStat struct {
	Program  string // ingress, egress or drop
	RunTime  uint64 // ns spent running
	RunCount uint64
}

// ProgramStats returns the statistics of the programs p loaded.
func (p *Collection) ProgramStats() ([]ProgramStat, error) {
	var out []ProgramStat
	for _, pr := range []struct {
		name string
		prog *ebpf.Program
	}{{"ingress", p.objs.PodintIngress}, {"egress", p.objs.PodintEgress}, {"drop", p.drop.PodintDrop}, {string(pins.PodIngress), p.objs.PodintPodIngress}, {string(pins.PodEgress), p.objs.PodintPodEgress}} {
		st, err := pr.prog.Stats()
		if err != nil {
			return out, fmt.Errorf("statistics of the %s program: %w", pr.name, err)
		}
		out = append(out, ProgramStat{Program: pr.name, RunTime: uint64(st.Runtime), RunCount: st.RunCount})
	}
	return out, nil
}

// EnableStats turns the kernel's BPF run time statistics on until the
// returned closer is closed.
func EnableStats() (interface{ Close() error }, error) {
	c, err := ebpf.EnableStats(uint32(unix.BPF_STATS_RUN_TIME))
	if err != nil {
		return nil, fmt.Errorf("enable BPF run time statistics (needs Linux 5.8 and CAP_SYS_ADMIN): %w", err)
	}
	return c, nil
}
