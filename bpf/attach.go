package bpf

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/cilium/ebpf"
)

// Directions a probe hooks, in attach order.
var Directions = []string{"ingress", "egress"}

// AttachMode is how a probe's programs hook an interface.
type AttachMode string

const (
	// AttachAuto uses TCX where the kernel has it (6.6+) and tc otherwise.
	AttachAuto AttachMode = "auto"
	// AttachTCX hooks with TCX links, pinned under the probe's link dir.
	AttachTCX AttachMode = "tcx"
	// AttachTC hooks with direct-action cls_bpf filters on a clsact qdisc.
	AttachTC AttachMode = "tc"
)

// Position is where the probe goes among the programs already on a hook.
type Position string

const (
	// PositionFirst runs the probe before every other program, so one that
	// redirects or drops cannot hide packets from it.
	PositionFirst Position = "first"
	// PositionLast runs the probe after the programs attached before it.
	PositionLast Position = "last"
)

// AttachOptions choose how Attach hooks a probe; the zero value means
// AttachAuto at PositionFirst.
type AttachOptions struct {
	Mode     AttachMode
	Position Position
	// Pod, when set, also gets the pod-side probe (TCX mode only): a pod's
	// probe sees the packets a CNI redirects into the pod past the host
	// veth's egress. Uplink probes have none.
	Pod *PodInterface
}

func (o AttachOptions) withDefaults() (AttachOptions, error) {
	if o.Mode == "" {
		o.Mode = AttachAuto
	}
	if o.Position == "" {
		o.Position = PositionFirst
	}
	switch o.Mode {
	case AttachAuto, AttachTCX, AttachTC:
	default:
		return o, fmt.Errorf("attach mode %q: want %q, %q or %q", o.Mode, AttachAuto, AttachTCX, AttachTC)
	}
	switch o.Position {
	case PositionFirst, PositionLast:
	default:
		return o, fmt.Errorf("attach position %q: want %q or %q", o.Position, PositionFirst, PositionLast)
	}
	return o, nil
}

func linksDir(pinDir string) string { return filepath.Join(pinDir, "links") }

// LinkDir is where the pins of one probe live. probeID names the
// attachment, e.g. "<container id>_<interface>" or "uplink_eth0".
//
// A TCX probe pins its links there as ingress and egress. A tc probe pins
// the programs its cls_bpf filters run as tc_ingress and tc_egress: tc
// filters cannot be pinned, and the pins mark the probe as attached for
// DEL, CHECK, GC and the daemon alike.
func LinkDir(pinDir, probeID string) string {
	return filepath.Join(linksDir(pinDir), probeID)
}

// stagingDir is where Attach builds a probe's pins before it moves them to
// LinkDir in one rename: a probe in LinkDir is complete, whoever looks. What
// stays here was left by an Attach that did not finish (a plugin killed
// mid-ADD); Detach removes it with the rest.
func stagingDir(pinDir, probeID string) string {
	return filepath.Join(pinDir, "staging", probeID)
}

// ProbeID names the pins of a pod's probe after its CNI attachment, which is
// what DEL and GC are given.
func ProbeID(containerID, ifName string) string {
	return sanitize(containerID) + "_" + sanitize(ifName)
}

// UplinkProbeID names the pins of an uplink's probe.
func UplinkProbeID(ifName string) string { return "uplink_" + sanitize(ifName) }

// IsUplinkProbeID reports whether id names an uplink's probe, which the
// daemon owns (CNI GC leaves it alone).
func IsUplinkProbeID(id string) bool { return strings.HasPrefix(id, "uplink_") }

// sanitize makes s safe as one bpffs path element (bpffs refuses dots).
func sanitize(s string) string {
	s = strings.Map(func(r rune) rune {
		if r == '/' || r == 0 || r == '.' {
			return '_'
		}
		return r
	}, s)
	if s == "" {
		s = "_"
	}
	return s
}

// Attach hooks the pinned probe programs to both directions of ifindex and
// pins what keeps them there under LinkDir, so the probe outlives the
// calling process; the pins appear there together, once both hooks are in
// place. It returns the mode it used: with AttachAuto, TCX unless
// the kernel lacks it (cilium/ebpf's feature probe says so), then tc.
// Attaching an already attached probe replaces it rather than stacking a
// second one; a failed Attach leaves nothing behind.
func Attach(pinDir, probeID string, ifindex int, opts AttachOptions) (AttachMode, error) {
	opts, err := opts.withDefaults()
	if err != nil {
		return "", err
	}
	progs, err := openPrograms(pinDir)
	if err != nil {
		return "", err
	}
	defer progs.close()
	if err := Detach(pinDir, probeID, ifindex); err != nil {
		return "", fmt.Errorf("remove the earlier probe %s: %w", probeID, err)
	}
	stage := stagingDir(pinDir, probeID)
	for _, d := range []string{stage, linksDir(pinDir)} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			return "", fmt.Errorf("create pin directory: %w", err)
		}
	}
	mode := opts.Mode
	switch mode {
	case AttachTCX:
		err = attachTCX(progs, stage, ifindex, opts.Position)
	case AttachTC:
		err = attachTC(progs, stage, probeID, ifindex, opts.Position)
	case AttachAuto:
		mode = AttachTCX
		err = attachTCX(progs, stage, ifindex, opts.Position)
		if errors.Is(err, ebpf.ErrNotSupported) {
			mode = AttachTC
			err = attachTC(progs, stage, probeID, ifindex, opts.Position)
		}
	}
	if err == nil && mode == AttachTCX && opts.Pod != nil {
		err = attachPodSide(pinDir, stage, *opts.Pod, ifindex, opts.Position)
	}
	if err == nil {
		if err = os.Rename(stage, LinkDir(pinDir, probeID)); err != nil {
			err = fmt.Errorf("move the pins of probe %s into place: %w", probeID, err)
		}
	}
	if err != nil {
		_ = Detach(pinDir, probeID, ifindex)
		return "", err
	}
	return mode, nil
}

// programs are the pinned probe programs, by direction.
type programs map[string]*ebpf.Program

func openPrograms(pinDir string) (programs, error) {
	progs := programs{}
	for _, d := range Directions {
		p, err := ebpf.LoadPinnedProgram(ProgramPath(pinDir, d), nil)
		if err != nil {
			progs.close()
			return nil, fmt.Errorf("open pinned %s program %s (is podintd running with this instance root?): %w",
				d, ProgramPath(pinDir, d), err)
		}
		progs[d] = p
	}
	return progs, nil
}

func (p programs) close() {
	for _, prog := range p {
		prog.Close()
	}
}

// PinnedMode is the mode of the probe pinned as probeID, "" when there is none.
func PinnedMode(pinDir, probeID string) AttachMode {
	return dirMode(LinkDir(pinDir, probeID))
}

// dirMode tells a probe's mode from the pins in dir.
func dirMode(dir string) AttachMode {
	ents, _ := os.ReadDir(dir)
	for _, e := range ents {
		switch {
		case strings.HasPrefix(e.Name(), tcPinPrefix):
			return AttachTC
		case e.Name() == "ingress" || e.Name() == "egress":
			return AttachTCX
		}
	}
	return ""
}

// hasTC reports whether the probe, complete or half attached, has tc
// filters to remove.
func hasTC(pinDir, probeID string) bool {
	return dirMode(LinkDir(pinDir, probeID)) == AttachTC || dirMode(stagingDir(pinDir, probeID)) == AttachTC
}

// Detach removes a probe, complete or half attached: its tc filters, then
// its pins, detaching its TCX links. ifindex is the interface the probe
// hooks when the caller knows it; 0 makes a tc probe's filters be searched
// on every interface of the network namespace. Detach succeeds when the
// probe, its pins or its interface are already gone, so CNI DEL can call it
// any number of times.
func Detach(pinDir, probeID string, ifindex int) error {
	if !hasTC(pinDir, probeID) {
		return unpinProbe(pinDir, probeID)
	}
	// Filters first: once the pins are gone nothing says they are ours.
	links, err := tcLinks(ifindex)
	if err != nil {
		return err
	}
	return errors.Join(detachTC(links, map[string]bool{probeID: true}), unpinProbe(pinDir, probeID))
}

// DetachProbes removes several probes whose interfaces are unknown, as
// Detach(pinDir, id, 0) does for each, but searching the interfaces for tc
// filters once for all of them.
func DetachProbes(pinDir string, probeIDs []string) error {
	tc := map[string]bool{}
	for _, id := range probeIDs {
		if hasTC(pinDir, id) {
			tc[id] = true
		}
	}
	var errs []error
	if len(tc) > 0 {
		links, err := tcLinks(0)
		if err != nil {
			return err
		}
		errs = append(errs, detachTC(links, tc))
	}
	for _, id := range probeIDs {
		errs = append(errs, unpinProbe(pinDir, id))
	}
	return errors.Join(errs...)
}

// unpinProbe detaches the probe's TCX links and removes its pins and
// directories.
func unpinProbe(pinDir, probeID string) error {
	forgetPodPort(pinDir, LinkDir(pinDir, probeID))
	forgetPodPort(pinDir, stagingDir(pinDir, probeID))
	return errors.Join(unpinDir(LinkDir(pinDir, probeID)), unpinDir(stagingDir(pinDir, probeID)))
}

func unpinDir(dir string) error {
	ents, err := os.ReadDir(dir)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("read probe pins %s: %w", dir, err)
	}
	var errs []error
	for _, e := range ents {
		path := filepath.Join(dir, e.Name())
		if isLinkPin(e.Name()) {
			errs = append(errs, detachTCXLink(path))
		}
		if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
			errs = append(errs, fmt.Errorf("unpin %s: %w", path, err))
		}
	}
	if err := os.Remove(dir); err != nil && !errors.Is(err, os.ErrNotExist) {
		errs = append(errs, fmt.Errorf("remove %s: %w", dir, err))
	}
	return errors.Join(errs...)
}

// AttachedProbes lists the ids of the probes with pins, in either mode.
func AttachedProbes(pinDir string) ([]string, error) { return subdirs(linksDir(pinDir)) }

// StagedProbes lists the ids of probes whose Attach did not finish (a
// plugin killed mid-ADD): they may hold hooks, but are no AttachedProbes.
func StagedProbes(pinDir string) ([]string, error) { return subdirs(filepath.Join(pinDir, "staging")) }

func subdirs(dir string) ([]string, error) {
	ents, err := os.ReadDir(dir)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("list pinned probes: %w", err)
	}
	var ids []string
	for _, e := range ents {
		if e.IsDir() {
			ids = append(ids, e.Name())
		}
	}
	return ids, nil
}

// Verify checks that the probe pinned as probeID hooks both directions of
// ifindex, and returns its mode. Its error names what is missing.
func Verify(pinDir, probeID string, ifindex int) (AttachMode, error) {
	switch mode := PinnedMode(pinDir, probeID); mode {
	case AttachTCX:
		return mode, errors.Join(verifyTCX(pinDir, probeID, ifindex), verifyPodSide(pinDir, probeID))
	case AttachTC:
		return mode, verifyTC(pinDir, probeID, ifindex)
	default:
		return "", fmt.Errorf("no probe pinned under %s", LinkDir(pinDir, probeID))
	}
}
