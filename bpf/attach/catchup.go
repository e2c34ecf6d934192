package attach

import (
	"errors"
	"fmt"

	"golang.org/x/sys/unix"

	"github.com/podint/podint/bpf/attach/internal/bpfsys"
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
// the pod_ports map pinned now; seen are the program pins as they were
// before Attach opened them.
func catchUp(pinDir, probeID string, ifindex int, seen programPins, pod *PodInterface) error {
	var errs []error
	if seen.replaced(pinDir) {
		progs, err := openAllPrograms(pinDir)
		if err != nil {
			return err
		}
		defer progs.close()
		if _, err := Update(pinDir, probeID, ifindex, func(h pins.Hook) int { return progs[h].Int() }); err != nil {
			errs = append(errs, fmt.Errorf("move probe %s to the programs podintd pinned while it was attached: %w", probeID, err))
		}
	}
	if pod != nil && len(PodHooks(pinDir, probeID)) > 0 {
		errs = append(errs, ensurePodPort(pinDir, *pod, ifindex))
	}
	return errors.Join(errs...)
}

// programPins are the inode numbers of the host hooks' program pins. A
// daemon pins its programs by replacing the files (pins.Replace: a new pin
// renamed over the old one), so a pin whose inode moved holds another
// program. Comparing them costs a stat per hook; comparing the programs
// themselves (opening the pins again, their ids through cilium/ebpf's
// Info, as attach did then) had ADD's attach at 6.6 ms p50 in a full bench run, against 2.9 ms
// with the stat in the next run (cni stage).
type programPins map[pins.Hook]uint64

// statProgramPins reads the program pins' inodes: before the programs are
// opened, so that a replacement between the two reads as one.
func statProgramPins(pinDir string) programPins {
	seen := programPins{}
	for _, h := range pins.HostHooks() {
		var st unix.Stat_t
		if unix.Stat(pins.ProgramPath(pinDir, h), &st) == nil {
			seen[h] = st.Ino
		}
	}
	return seen
}

// replaced tells whether a program pin changed since seen was read.
func (seen programPins) replaced(pinDir string) bool {
	now := statProgramPins(pinDir)
	for _, h := range pins.HostHooks() {
		if ino, ok := seen[h]; !ok || now[h] != ino {
			return true
		}
	}
	return false
}

// openAllPrograms opens the pinned programs of every hook; the pod-side
// ones are missing when an older podintd pinned none.
func openAllPrograms(pinDir string) (programs, error) {
	progs, err := openPrograms(pinDir)
	if err != nil {
		return nil, err
	}
	for _, h := range pins.PodHooks() {
		if p, err := bpfsys.Open(pins.ProgramPath(pinDir, h)); err == nil {
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
	host, err := m.Lookup(PodPortKey{NetnsIno: ino, Ifindex: uint32(pod.Ifindex)})
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
