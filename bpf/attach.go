package bpf

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/link"
)

// Directions a probe hooks, in attach order.
var Directions = []string{"ingress", "egress"}

func linksDir(pinDir string) string { return filepath.Join(pinDir, "links") }

// LinkDir is where the links of one probe are pinned. probeID names the
// attachment, e.g. "<container id>_<interface>" or "uplink_eth0".
func LinkDir(pinDir, probeID string) string {
	return filepath.Join(linksDir(pinDir), probeID)
}

// ProbeID names the pins of a pod's probe after its CNI attachment, which is
// what DEL and GC are given.
func ProbeID(containerID, ifName string) string {
	return sanitize(containerID) + "_" + sanitize(ifName)
}

// UplinkProbeID names the pins of an uplink's probe.
func UplinkProbeID(ifName string) string { return "uplink_" + sanitize(ifName) }

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

// Attach hooks the pinned probe programs to both directions of ifindex with
// TCX, at the head of the chain so that a CNI program that redirects cannot
// hide packets from the probe, and pins the links under LinkDir so they
// outlive the calling process. Attaching an already attached probe replaces
// its links.
func Attach(pinDir, probeID string, ifindex int) error {
	dir := LinkDir(pinDir, probeID)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("create link pin directory: %w", err)
	}
	for _, d := range Directions {
		prog, err := ebpf.LoadPinnedProgram(ProgramPath(pinDir, d), nil)
		if err != nil {
			return fmt.Errorf("open pinned %s program (is podintd running with this instance root?): %w", d, err)
		}
		err = attachOne(prog, d, ifindex, filepath.Join(dir, d))
		prog.Close()
		if err != nil {
			return err
		}
	}
	return nil
}

func attachOne(prog *ebpf.Program, direction string, ifindex int, pin string) error {
	at := ebpf.AttachTCXIngress
	if direction == "egress" {
		at = ebpf.AttachTCXEgress
	}
	// A stale pin (from a half-done ADD) is replaced rather than stacked.
	if err := unpinLink(pin); err != nil {
		return err
	}
	l, err := link.AttachTCX(link.TCXOptions{
		Interface: ifindex,
		Program:   prog,
		Attach:    at,
		Anchor:    link.Head(),
	})
	if err != nil {
		return fmt.Errorf("attach %s probe to ifindex %d with TCX: %w", direction, ifindex, err)
	}
	defer l.Close()
	if err := l.Pin(pin); err != nil {
		return fmt.Errorf("pin %s link: %w", direction, err)
	}
	return nil
}

func unpinLink(pin string) error {
	l, err := link.LoadPinnedLink(pin, nil)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		// Not a link we can open: remove the file so the slot is usable.
		if rmErr := os.Remove(pin); rmErr != nil && !errors.Is(rmErr, os.ErrNotExist) {
			return fmt.Errorf("remove stale pin %s: %w", pin, rmErr)
		}
		return nil
	}
	defer l.Close()
	if err := l.Unpin(); err != nil {
		return fmt.Errorf("unpin %s: %w", pin, err)
	}
	return nil
}

// Detach removes a probe's links. It succeeds when they are already gone,
// so CNI DEL can call it any number of times.
func Detach(pinDir, probeID string) error {
	dir := LinkDir(pinDir, probeID)
	var errs []error
	for _, d := range Directions {
		if err := unpinLink(filepath.Join(dir, d)); err != nil {
			errs = append(errs, err)
		}
	}
	if err := os.Remove(dir); err != nil && !errors.Is(err, os.ErrNotExist) {
		errs = append(errs, fmt.Errorf("remove %s: %w", dir, err))
	}
	return errors.Join(errs...)
}

// AttachedProbes lists the probe ids with pinned links.
func AttachedProbes(pinDir string) ([]string, error) {
	ents, err := os.ReadDir(linksDir(pinDir))
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

// LinkIfindex returns the interface a pinned link is attached to, or 0 when
// that interface is gone.
func LinkIfindex(pinDir, probeID, direction string) (int, error) {
	l, err := link.LoadPinnedLink(filepath.Join(LinkDir(pinDir, probeID), direction), nil)
	if err != nil {
		return 0, err
	}
	defer l.Close()
	info, err := l.Info()
	if err != nil {
		return 0, fmt.Errorf("link info: %w", err)
	}
	if tcx := info.TCX(); tcx != nil {
		return int(tcx.Ifindex), nil
	}
	return 0, nil
}

// IsUplinkProbeID reports whether id names an uplink's probe, which the
// daemon owns (CNI GC leaves it alone).
func IsUplinkProbeID(id string) bool { return strings.HasPrefix(id, "uplink_") }
