package attach

import (
	"errors"
	"fmt"

	"github.com/cilium/ebpf"

	"github.com/podint/podint/bpf/pins"
)

// An upgrading podintd whose programs cannot use the pinned maps replaces
// them: it pins the new maps, then the new programs, then moves every
// probe pinned under links/ to them (bpf.Load, then the daemon's
// reconcile). An ADD running meanwhile may have opened the older programs
// and written the older pod_ports map, and move its pins into place only
// after the daemon listed the probes: nobody would move that probe. So
// once its pins are in place, Attach looks again, and moves its own probe
// to the programs pinned now and writes its pod_ports entry into the map
// pinned now, if they are not the ones it used. Either the daemon's
// listing comes after the pins moved into place, and the daemon moves the
// probe, or Attach's second look comes after the daemon pinned the new
// maps and programs, which it does before it lists.

// catchUp makes the probe just pinned as probeID run the programs and see
// the pod_ports map pinned now.
func catchUp(pinDir, probeID string, ifindex int, used programs, pod *PodInterface) error {
	var errs []error
	if stale, err := programsReplaced(pinDir, used); err != nil {
		errs = append(errs, err)
	} else if stale {
		progs, err := openAllPrograms(pinDir)
		if err != nil {
			return err
		}
		defer progs.close()
		if _, err := Update(pinDir, probeID, ifindex, func(h pins.Hook) *ebpf.Program { return progs[h] }); err != nil {
			errs = append(errs, fmt.Errorf("move probe %s to the programs podintd pinned while it was attached: %w", probeID, err))
		}
	}
	if pod != nil && len(PodHooks(pinDir, probeID)) > 0 {
		errs = append(errs, ensurePodPort(pinDir, *pod, ifindex))
	}
	return errors.Join(errs...)
}

// programsReplaced tells whether the programs pinned now differ from used.
func programsReplaced(pinDir string, used programs) (bool, error) {
	for h, prog := range used {
		pinned, err := ebpf.LoadPinnedProgram(pins.ProgramPath(pinDir, h), nil)
		if err != nil {
			return false, fmt.Errorf("open pinned %s program: %w", h, err)
		}
		same, err := sameProgram(prog, pinned)
		pinned.Close()
		if err != nil || !same {
			return !same, err
		}
	}
	return false, nil
}

func sameProgram(a, b *ebpf.Program) (bool, error) {
	ia, err := a.Info()
	if err != nil {
		return false, fmt.Errorf("program info: %w", err)
	}
	ib, err := b.Info()
	if err != nil {
		return false, fmt.Errorf("program info: %w", err)
	}
	ida, _ := ia.ID()
	idb, _ := ib.ID()
	return ida == idb, nil
}

// openAllPrograms opens the pinned programs of every hook; the pod-side
// ones are missing when an older podintd pinned none.
func openAllPrograms(pinDir string) (programs, error) {
	progs, err := openPrograms(pinDir)
	if err != nil {
		return nil, err
	}
	for _, h := range pins.PodHooks() {
		if p, err := ebpf.LoadPinnedProgram(pins.ProgramPath(pinDir, h), nil); err == nil {
			progs[h] = p
		}
	}
	return progs, nil
}

// ensurePodPort writes the pod interface's host port into the pinned
// pod_ports map unless it holds it already.
func ensurePodPort(pinDir string, pod PodInterface, hostIfindex int) error {
	ino, err := netnsInoOf(pod.Netns)
	if err != nil {
		return err
	}
	m, err := openPodPorts(pinDir)
	if err != nil {
		return err
	}
	var host uint32
	err = m.Lookup(&PodPortKey{NetnsIno: ino, Ifindex: uint32(pod.Ifindex)}, &host)
	m.Close()
	if err == nil && host == uint32(hostIfindex) {
		return nil
	}
	return setPodPort(pinDir, ino, pod.Ifindex, hostIfindex)
}

// RestorePodPort writes again the host port of the pod-side probe pinned as
// probeID into the pinned pod_ports map, which an upgrade replaced: the pod
// interface is the one its pinned pod-side link hooks, in the network
// namespace at netns. A probe without a pod side has nothing to restore.
func RestorePodPort(pinDir, probeID, netns string, hostIfindex int) error {
	for _, h := range pins.PodHooks() {
		idx, err := linkIfindex(pinDir, probeID, h)
		if err != nil || idx == 0 {
			continue
		}
		return ensurePodPort(pinDir, PodInterface{Netns: netns, Ifindex: idx}, hostIfindex)
	}
	return nil
}
