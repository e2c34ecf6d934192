package attach

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"structs"

	"golang.org/x/sys/unix"

	"github.com/podint/podint/bpf/attach/internal/bpfsys"
	"github.com/podint/podint/bpf/pins"
)

// podSideHooks are the hooks a probe at pos gets. PodEgress only at
// Last: at First the host veth's ingress probe runs before
// the CNI's programs and records every packet itself, and the pod-side
// egress would cost every packet a pod sends a second record for nothing
// (docs/performance.md).
func podSideHooks(pos Position) []pins.Hook {
	if pos == Last {
		return []pins.Hook{pins.PodIngress, pins.PodEgress}
	}
	return []pins.Hook{pins.PodIngress}
}

// isLinkPin tells the pins of a probe that are TCX links.
func isLinkPin(name string) bool {
	switch pins.Hook(name) {
	case pins.Ingress, pins.Egress, pins.PodIngress, pins.PodEgress:
		return true
	}
	return false
}

// PodInterface is the pod's end of a probed veth: where Attach puts the
// pod-side probe.
type PodInterface struct {
	Netns   string // path of the pod's network namespace
	Ifindex int    // the interface's ifindex inside it
}

// podSideJobs prepares the pod-side probe's links to the pod's interface,
// pinned in dir, and first records which host port (hostIfindex) the
// interface belongs to: a packet the links see must find its host port.
// The links live in the pod's namespace; their pins, in the node's bpffs,
// are what DEL, CHECK, GC and the daemon see. done releases what the jobs
// hold, once they ran.
func podSideJobs(pinDir, dir string, pod PodInterface, hostIfindex int, pos Position) (jobs []tcxJob, done func(), err error) {
	var closers []func() error
	done = func() {
		for _, c := range closers {
			_ = c()
		}
	}
	defer func() {
		if err != nil {
			done()
		}
	}()
	podNS, err := os.Open(pod.Netns)
	if err != nil {
		return nil, done, fmt.Errorf("open pod netns %q: %w", pod.Netns, err)
	}
	closers = append(closers, podNS.Close)
	for _, h := range podSideHooks(pos) {
		prog, err := bpfsys.Open(pins.ProgramPath(pinDir, h))
		if errors.Is(err, os.ErrNotExist) {
			return nil, done, nil // an older podintd loaded no pod-side programs: host veth probes only
		}
		if err != nil {
			return nil, done, fmt.Errorf("open pinned pod-side program %s: %w", h, err)
		}
		closers = append(closers, prog.Close)
		jobs = append(jobs, tcxJob{netns: podNS, ifindex: pod.Ifindex, hook: h, prog: prog,
			pin: filepath.Join(dir, string(h)), what: "pod-side probe " + string(h) + " in " + pod.Netns})
	}
	ino, err := netnsInoOf(pod.Netns)
	if err != nil {
		return nil, done, err
	}
	if err := setPodPort(pinDir, ino, pod.Ifindex, hostIfindex); err != nil {
		return nil, done, err
	}
	return jobs, done, nil
}

func netnsInoOf(path string) (uint64, error) {
	var st unix.Stat_t
	if err := unix.Stat(path, &st); err != nil {
		return 0, fmt.Errorf("stat network namespace %s: %w", path, err)
	}
	return st.Ino, nil
}

// PodPortKey is the key of the pod_ports map: struct pod_port_key in
// c/probe.h. The bpf package's tests hold it to the generated type, so the
// plugin need not link the generated bindings (and their ELF) for it.
type PodPortKey struct {
	_        structs.HostLayout
	NetnsIno uint64
	Ifindex  uint32
	Pad      uint32
}

// podPorts is the pinned pod_ports map: a pod interface's key to its
// host port's ifindex.
type podPorts = bpfsys.Map[PodPortKey, uint32]

func openPodPorts(pinDir string) (*podPorts, error) {
	m, err := bpfsys.OpenMap[PodPortKey, uint32](pins.MapPath(pinDir, "pod_ports"))
	if err != nil {
		return nil, fmt.Errorf("open pinned map pod_ports: %w", err)
	}
	return m, nil
}

// setPodPort maps the pod interface (its namespace's inode and ifindex) to
// its host port, replacing any entry the host port had: an ifindex reused
// by a new veth must not keep an old pod's entry.
func setPodPort(pinDir string, netnsIno uint64, podIfindex, hostIfindex int) error {
	m, err := openPodPorts(pinDir)
	if err != nil {
		return err
	}
	defer m.Close()
	if err := deletePodPorts(m, func(host uint32) bool { return host == uint32(hostIfindex) }); err != nil {
		return err
	}
	k := PodPortKey{NetnsIno: netnsIno, Ifindex: uint32(podIfindex)}
	if err := m.Put(k, uint32(hostIfindex)); err != nil {
		return fmt.Errorf("record host port %d of pod interface %d: %w", hostIfindex, podIfindex, err)
	}
	return nil
}

// deletePodPorts removes the entries whose host port matches.
func deletePodPorts(m *podPorts, match func(host uint32) bool) error {
	var keys []PodPortKey
	err := m.Each(func(k PodPortKey, host uint32) bool {
		if match(host) {
			keys = append(keys, k)
		}
		return true
	})
	errs := []error{err}
	for _, k := range keys {
		if err := m.Delete(k); err != nil {
			errs = append(errs, fmt.Errorf("remove pod port entry: %w", err))
		}
	}
	return errors.Join(errs...)
}

// forgetPodPort removes the host port entry of the probe pinned in dir,
// before its pins go. The host veth's link says which port it is; when
// the veth is gone already, the daemon's PrunePodPorts removes the entry.
func forgetPodPort(pinDir, dir string) {
	if _, err := os.Stat(filepath.Join(dir, string(pins.PodIngress))); err != nil {
		if _, err := os.Stat(filepath.Join(dir, string(pins.PodEgress))); err != nil {
			return
		}
	}
	host := 0
	for _, d := range pins.HostHooks() {
		if idx, err := pinnedLinkIfindex(filepath.Join(dir, string(d))); err == nil && idx != 0 {
			host = idx
			break
		}
	}
	if host == 0 {
		return
	}
	forgetHostPort(pinDir, host)
}

// forgetHostPort removes the pod port entries of host port ifindex, if the
// map is there.
func forgetHostPort(pinDir string, ifindex int) {
	m, err := openPodPorts(pinDir)
	if err != nil {
		return
	}
	defer m.Close()
	_ = deletePodPorts(m, func(h uint32) bool { return h == uint32(ifindex) })
}

// PrunePodPorts removes the host port entries of pod interfaces whose host
// port keep refuses: what a DEL left when the veth was already gone.
func PrunePodPorts(pinDir string, keep func(hostIfindex int) bool) error {
	m, err := openPodPorts(pinDir)
	if err != nil {
		return err
	}
	defer m.Close()
	return deletePodPorts(m, func(h uint32) bool { return !keep(int(h)) })
}

// pinnedLinkIfindex is the interface a pinned TCX link hooks, 0 when gone.
func pinnedLinkIfindex(path string) (int, error) {
	l, err := bpfsys.Open(path)
	if err != nil {
		return 0, err
	}
	defer l.Close()
	idx, err := bpfsys.TCXIfindex(l)
	if err != nil {
		return 0, fmt.Errorf("link info: %w", err)
	}
	return idx, nil
}

// verifyPodSide checks the pod-side links, when the probe has them, still
// hook an interface.
func verifyPodSide(pinDir, probeID string) error {
	var errs []error
	for _, h := range pins.PodHooks() {
		path := filepath.Join(pins.LinkDir(pinDir, probeID), string(h))
		if _, err := os.Stat(path); err != nil {
			continue // attached without one: tc mode, or an older podintd
		}
		idx, err := pinnedLinkIfindex(path)
		if err != nil {
			errs = append(errs, fmt.Errorf("pod-side probe %s unreadable: %w", h, err))
		} else if idx == 0 {
			errs = append(errs, fmt.Errorf("pod-side probe %s: the pod's interface is gone", h))
		}
	}
	return errors.Join(errs...)
}

// PodPort is one pod interface the pod-side probes know the host port of.
type PodPort struct {
	NetnsIno    uint64 // the pod's network namespace (its nsfs inode)
	Ifindex     int    // the pod's interface, in that namespace
	HostIfindex int    // its host veth, the node's port
}

// PodPorts lists the pod interfaces the pinned pod_ports map holds.
func PodPorts(pinDir string) ([]PodPort, error) {
	m, err := openPodPorts(pinDir)
	if err != nil {
		return nil, err
	}
	defer m.Close()
	var out []PodPort
	err = m.Each(func(k PodPortKey, host uint32) bool {
		out = append(out, PodPort{NetnsIno: k.NetnsIno, Ifindex: int(k.Ifindex), HostIfindex: int(host)})
		return true
	})
	return out, err
}

// NetnsIno is the inode of the network namespace at path, as the kernel's
// ns.inum names it.
func NetnsIno(path string) (uint64, error) { return netnsInoOf(path) }

// SetPodPort maps a pod interface to its host port, as ADD does before it
// attaches the pod-side probe; for benchmarks, which run the pod-side
// programs by test-run.
func SetPodPort(pinDir string, netnsIno uint64, podIfindex, hostIfindex int) error {
	return setPodPort(pinDir, netnsIno, podIfindex, hostIfindex)
}

// PodHooks lists the pod-side hooks the probe pinned as probeID has.
func PodHooks(pinDir, probeID string) []string {
	var out []string
	for _, h := range pins.PodHooks() {
		if _, err := os.Stat(filepath.Join(pins.LinkDir(pinDir, probeID), string(h))); err == nil {
			out = append(out, string(h))
		}
	}
	return out
}
