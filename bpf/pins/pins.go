// Package pins owns the layout of an instance's bpffs pin directory: where
// the daemon pins the probes' maps and programs, where the CNI plugin and the
// daemon pin a probe's hooks, and how a probe is named there. It has no
// dependencies, so that both the plugin and the daemon link it cheaply.
//
// Layout under an instance's pin directory:
//
//	map_layouts           the layout of each pinned map's contents, written once they are pinned
//	maps/<name>           ring buffer, flow state, counters, settings, watchlist, ports,
//	                      drop reason policy and its counters (drop_policy, drops_excluded)
//	progs/<hook>          the programs the CNI plugin attaches (ingress, egress, pod_ingress, pod_egress)
//	links/<probe>/ingress|egress        one pinned TCX link per hook
//	links/<probe>/pod_ingress|pod_egress  the pod-side TCX links, in the pod's netns
//	links/<probe>/tc_ingress|tc_egress  the programs of a tc (cls_bpf) probe's filters
//	staging/<probe>/      a probe being attached, renamed into links/ once whole
//	drops_link            the kfree_skb tracing link
//	cpu_<hook>_link       the CPU port's netfilter links
package pins

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// Hook is one place a probe program runs: a direction of the host veth, or
// of the pod's own interface (the pod-side probe). It names the program's
// pin (progs/<hook>) and the link's pin in a probe's directory.
type Hook string

const (
	Ingress Hook = "ingress" // host veth ingress: packets the pod sends
	Egress  Hook = "egress"  // host veth egress: packets to the pod
	// PodIngress hooks the pod's interface inside its netns: it reports the
	// packets a CNI moved into the pod with bpf_redirect_peer, bypassing
	// the host veth's egress probe.
	PodIngress Hook = "pod_ingress"
	// PodEgress records the packets the pod sends, in case a CNI program
	// ahead of podint redirects them away from the host veth's ingress.
	PodEgress Hook = "pod_egress"
)

// HostHooks are the hooks of a host veth or uplink, in attach order.
func HostHooks() [2]Hook { return [2]Hook{Ingress, Egress} }

// PodHooks are the pod-side probe's hooks, in attach order.
func PodHooks() [2]Hook { return [2]Hook{PodIngress, PodEgress} }

// IsEgress tells the hooks that see packets leaving their interface.
func (h Hook) IsEgress() bool { return h == Egress || h == PodEgress }

// MapsDir holds the pinned maps.
func MapsDir(pinDir string) string { return filepath.Join(pinDir, "maps") }

// MapPath is where the map called name is pinned.
func MapPath(pinDir, name string) string { return filepath.Join(MapsDir(pinDir), name) }

// LayoutsPath is where the pinned maps' layouts are recorded: an upgrade
// replaces a pinned map whose contents the new programs would misread.
func LayoutsPath(pinDir string) string { return filepath.Join(pinDir, "map_layouts") }

// ProgsDir holds the pinned programs.
func ProgsDir(pinDir string) string { return filepath.Join(pinDir, "progs") }

// ProgramPath is where the program for hook h is pinned.
func ProgramPath(pinDir string, h Hook) string { return filepath.Join(ProgsDir(pinDir), string(h)) }

// LinksDir holds one directory per attached probe.
func LinksDir(pinDir string) string { return filepath.Join(pinDir, "links") }

// LinkDir is where the pins of one probe live. probeID names the
// attachment (ProbeID, UplinkProbeID).
//
// A TCX probe pins its links there by hook. A tc probe pins the programs
// its cls_bpf filters run as tc_ingress and tc_egress: tc filters cannot be
// pinned, and the pins mark the probe as attached for DEL, CHECK, GC and
// the daemon alike.
func LinkDir(pinDir, probeID string) string { return filepath.Join(LinksDir(pinDir), probeID) }

// StagingRoot holds the probes whose attach is under way or died.
func StagingRoot(pinDir string) string { return filepath.Join(pinDir, "staging") }

// StagingDir is where a probe's pins are built before one rename moves
// them to LinkDir: a probe in LinkDir is complete, whoever looks. What
// stays here was left by an attach that did not finish (a plugin killed
// mid-ADD).
func StagingDir(pinDir, probeID string) string { return filepath.Join(StagingRoot(pinDir), probeID) }

// TCPinPrefix starts the names of a tc probe's program pins (tc_ingress,
// tc_egress) in its link dir.
const TCPinPrefix = "tc_"

// TCProgramPin is the name of a tc probe's program pin for hook h.
func TCProgramPin(h Hook) string { return TCPinPrefix + string(h) }

// DropsLinkPath is where the kfree_skb tracing link is pinned, so drops
// are recorded while the daemon is away.
func DropsLinkPath(pinDir string) string { return filepath.Join(pinDir, "drops_link") }

// CPULinkPath is where the CPU port's netfilter link called name is pinned.
func CPULinkPath(pinDir, name string) string { return filepath.Join(pinDir, name+"_link") }

// ProbeID names the pins of a pod's probe after its CNI attachment, which is
// what DEL and GC are given.
func ProbeID(containerID, ifName string) string {
	return sanitize(containerID) + "_" + sanitize(ifName)
}

// UplinkProbeID names the pins of an uplink's probe.
func UplinkProbeID(ifName string) string { return uplinkPrefix + sanitize(ifName) }

const uplinkPrefix = "uplink_"

// IsUplinkProbeID reports whether id names an uplink's probe, which the
// daemon owns (CNI GC leaves it alone).
func IsUplinkProbeID(id string) bool { return strings.HasPrefix(id, uplinkPrefix) }

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

// Replace pins a new object at path in place of whatever is pinned there,
// with no moment where path is empty: pin writes the object at the path it
// is given (a sibling), which is then renamed over path. Renaming over an
// old pin drops the pin's reference to the old object, so a link pinned
// there before is released once nothing else holds it.
func Replace(path string, pin func(tmp string) error) error {
	tmp := path + "_new" // bpffs refuses names with dots
	_ = os.Remove(tmp)
	if err := pin(tmp); err != nil {
		return fmt.Errorf("pin %s: %w", path, err)
	}
	if err := os.Rename(tmp, path); err != nil {
		_ = os.Remove(tmp)
		return fmt.Errorf("move pin into place at %s: %w", path, err)
	}
	return nil
}
