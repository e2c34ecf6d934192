// Package attach hooks the probe programs a daemon pinned (bpf/pins) to an
// interface and takes them off again: what the CNI plugin does on ADD, DEL,
// CHECK and GC, and the daemon for uplinks. It opens pinned objects only
// when a verb needs them, with bare bpf(2) calls (internal/bpfsys): it
// links no loader, ELF or eBPF library.
package attach

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/podint/podint/bpf/attach/internal/bpfsys"
	"github.com/podint/podint/bpf/pins"
)

// Mode is how a probe's programs hook an interface.
type Mode string

const (
	// Auto uses TCX where the kernel has it (6.6+) and tc otherwise.
	Auto Mode = "auto"
	// TCX hooks with TCX links, pinned under the probe's link dir.
	TCX Mode = "tcx"
	// TC hooks with direct-action cls_bpf filters on a clsact qdisc.
	TC Mode = "tc"
)

// Position is where the probe goes among the programs already on a hook.
type Position string

const (
	// First runs the probe before every other program, so one that
	// redirects or drops cannot hide packets from it.
	First Position = "first"
	// Last runs the probe after the programs attached before it.
	Last Position = "last"
)

// Options choose how Attach hooks a probe; the zero value means
// Auto at First.
type Options struct {
	Mode     Mode
	Position Position
	// Pod, when set, also gets the pod-side probe (TCX mode only): a pod's
	// probe sees the packets a CNI redirects into the pod past the host
	// veth's egress. Uplink probes have none.
	Pod *PodInterface
}

// ParseMode reads an attach mode as configs spell it; "" is Auto.
func ParseMode(s string) (Mode, error) {
	switch m := Mode(s); m {
	case "":
		return Auto, nil
	case Auto, TCX, TC:
		return m, nil
	}
	return "", fmt.Errorf("attach mode %q: want %q, %q or %q", s, Auto, TCX, TC)
}

// ParsePosition reads an attach position as configs spell it; "" is First.
func ParsePosition(s string) (Position, error) {
	switch p := Position(s); p {
	case "":
		return First, nil
	case First, Last:
		return p, nil
	}
	return "", fmt.Errorf("attach position %q: want %q or %q", s, First, Last)
}

func (o Options) withDefaults() (Options, error) {
	var err, perr error
	o.Mode, err = ParseMode(string(o.Mode))
	o.Position, perr = ParsePosition(string(o.Position))
	return o, errors.Join(err, perr)
}

// Attach hooks the pinned probe programs to both directions of ifindex and
// pins what keeps them there under LinkDir, so the probe outlives the
// calling process; the pins appear there together, once both hooks are in
// place. It returns the mode it used: with Auto, TCX unless
// the kernel lacks it (it does not know TCX's attach type), then tc.
// Attaching an already attached probe replaces it rather than stacking a
// second one; a failed Attach leaves nothing behind.
func Attach(pinDir, probeID string, ifindex int, opts Options) (Mode, error) {
	opts, err := opts.withDefaults()
	if err != nil {
		return "", err
	}
	seen := statProgramPins(pinDir)
	progs, err := openPrograms(pinDir)
	if err != nil {
		return "", err
	}
	defer progs.close()
	if err := Detach(pinDir, probeID, ifindex); err != nil {
		return "", fmt.Errorf("remove the earlier probe %s: %w", probeID, err)
	}
	stage := pins.StagingDir(pinDir, probeID)
	mkStage := func() error {
		for _, d := range []string{stage, pins.LinksDir(pinDir)} {
			if err := os.MkdirAll(d, 0o700); err != nil {
				return fmt.Errorf("create pin directory: %w", err)
			}
		}
		return nil
	}
	if err := mkStage(); err != nil {
		return "", err
	}
	mode := opts.Mode
	switch mode {
	case TCX:
		err = attachAllTCX(pinDir, progs, stage, ifindex, opts)
	case TC:
		err = attachTC(progs, stage, probeID, ifindex, opts.Position)
	case Auto:
		mode = TCX
		err = attachAllTCX(pinDir, progs, stage, ifindex, opts)
		if errors.Is(err, bpfsys.ErrNoTCX) {
			mode = TC
			// Nothing was attached; start the stage afresh for tc, which has
			// no pod side.
			forgetHostPort(pinDir, ifindex)
			if err = unpinProbe(pinDir, probeID); err == nil {
				if err = mkStage(); err == nil {
					err = attachTC(progs, stage, probeID, ifindex, opts.Position)
				}
			}
		}
	}
	if err == nil {
		if err = os.Rename(stage, pins.LinkDir(pinDir, probeID)); err != nil {
			err = fmt.Errorf("move the pins of probe %s into place: %w", probeID, err)
		}
	}
	if err == nil {
		err = catchUp(pinDir, probeID, ifindex, seen, opts.Pod)
	}
	if err != nil {
		_ = Detach(pinDir, probeID, ifindex)
		return "", err
	}
	return mode, nil
}

// attachAllTCX hooks both directions of ifindex and, when opts.Pod is set,
// the pod-side probe, all at once.
func attachAllTCX(pinDir string, progs programs, stage string, ifindex int, opts Options) error {
	callerNS, err := callerNetns()
	if err != nil {
		return err
	}
	defer callerNS.Close()
	jobs := hostTCXJobs(progs, stage, ifindex, callerNS)
	if opts.Pod != nil {
		podJobs, done, err := podSideJobs(pinDir, stage, *opts.Pod, ifindex, opts.Position)
		if err != nil {
			return err
		}
		defer done()
		jobs = append(jobs, podJobs...)
	}
	return attachTCXJobs(jobs, opts.Position)
}

// programs are the pinned programs of the host veth's hooks.
type programs map[pins.Hook]*bpfsys.FD

func openPrograms(pinDir string) (programs, error) {
	progs := programs{}
	for _, h := range pins.HostHooks() {
		path := pins.ProgramPath(pinDir, h)
		p, err := bpfsys.Open(path)
		if err != nil {
			progs.close()
			return nil, fmt.Errorf("open pinned %s program %s (is podintd running with this instance root?): %w", h, path, err)
		}
		progs[h] = p
	}
	return progs, nil
}

func (p programs) close() {
	for _, prog := range p {
		prog.Close()
	}
}

// PinnedMode is the mode of the probe pinned as probeID, "" when there is none.
func PinnedMode(pinDir, probeID string) Mode {
	return dirMode(pins.LinkDir(pinDir, probeID))
}

// dirMode tells a probe's mode from the pins in dir.
func dirMode(dir string) Mode {
	ents, _ := os.ReadDir(dir)
	for _, e := range ents {
		switch {
		case strings.HasPrefix(e.Name(), pins.TCPinPrefix):
			return TC
		case e.Name() == string(pins.Ingress) || e.Name() == string(pins.Egress):
			return TCX
		}
	}
	return ""
}

// hasTC reports whether the probe, complete or half attached, has tc
// filters to remove.
func hasTC(pinDir, probeID string) bool {
	return dirMode(pins.LinkDir(pinDir, probeID)) == TC || dirMode(pins.StagingDir(pinDir, probeID)) == TC
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
	forgetPodPort(pinDir, pins.LinkDir(pinDir, probeID))
	forgetPodPort(pinDir, pins.StagingDir(pinDir, probeID))
	return errors.Join(unpinDir(pins.LinkDir(pinDir, probeID)), unpinDir(pins.StagingDir(pinDir, probeID)))
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
func AttachedProbes(pinDir string) ([]string, error) { return subdirs(pins.LinksDir(pinDir)) }

// StagedProbes lists the ids of probes whose Attach did not finish (a
// plugin killed mid-ADD): they may hold hooks, but are no AttachedProbes.
func StagedProbes(pinDir string) ([]string, error) { return subdirs(pins.StagingRoot(pinDir)) }

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
func Verify(pinDir, probeID string, ifindex int) (Mode, error) {
	switch mode := PinnedMode(pinDir, probeID); mode {
	case TCX:
		return mode, errors.Join(verifyTCX(pinDir, probeID, ifindex), verifyPodSide(pinDir, probeID))
	case TC:
		return mode, verifyTC(pinDir, probeID, ifindex)
	default:
		return "", fmt.Errorf("no probe pinned under %s", pins.LinkDir(pinDir, probeID))
	}
}
