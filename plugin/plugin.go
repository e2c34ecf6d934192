// Package plugin is the podint chained CNI plugin. On ADD it attaches the
// node daemon's pinned probes to the pod's host veth and registers the probe
// with the daemon; on DEL it undoes that, forgivingly; CHECK, STATUS and GC
// follow CNI spec 1.1. It passes the previous plugin's result through
// unchanged.
package plugin

import (
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"time"

	"github.com/containernetworking/cni/pkg/skel"
	"github.com/containernetworking/cni/pkg/types"
	current "github.com/containernetworking/cni/pkg/types/100"
	"github.com/containernetworking/cni/pkg/version"

	"github.com/podint/podint/bpf/attach"
	"github.com/podint/podint/bpf/pins"
	"github.com/podint/podint/internal/podveth"
	"github.com/podint/podint/internal/registration"
)

// Error codes of podint's own (CNI reserves 0-99). plugin/README.md lists
// every code podint returns.
const (
	ErrAttach   = 100 // failPolicy fail: the probe could not be attached to the host veth
	ErrRegister = 101 // failPolicy fail: podintd refused the registration
	ErrNoProbe  = 102 // CHECK: the probe or its registration is missing or wrong
	ErrHostVeth = 103 // failPolicy fail: the pod's host veth cannot be found
)

// Funcs are the plugin's verbs for skel.
var Funcs = skel.CNIFuncs{Add: cmdAdd, Del: cmdDel, Check: cmdCheck, Status: cmdStatus, GC: cmdGC}

// SupportedVersions are the CNI spec versions podint speaks: every version
// with chained plugins (prevResult) from 0.3.0 on.
var SupportedVersions = version.PluginSupports("0.3.0", "0.3.1", "0.4.0", "1.0.0", "1.1.0")

func cmdAdd(args *skel.CmdArgs) error {
	conf, err := parseConfig(args.StdinData)
	if err != nil {
		return err
	}
	if conf.PrevResult == nil {
		return types.NewError(types.ErrInvalidNetworkConfig, "podint: no prevResult",
			"podint is a chained plugin: list it after the primary plugin (bridge, ptp, calico, cilium...) in a .conflist")
	}
	res, err := current.NewResultFromResult(conf.PrevResult)
	if err != nil {
		return types.NewError(types.ErrDecodingFailure, "podint: cannot read prevResult", err.Error())
	}
	log, done := logger(conf, args)
	defer done()
	at := attachment{containerID: args.ContainerID, netns: args.Netns, podIf: args.IfName}
	if err := addProbe(conf, log, at, identity(args.Args), res); err != nil {
		return err
	}
	return printPrevResult(conf, args.StdinData)
}

// addProbe attaches and registers the pod's probe. Under failPolicy ignore
// it logs what fails and returns nil: the pod is never blocked by podint.
func addProbe(conf *NetConf, log *slog.Logger, at attachment, id podIdentity, res *current.Result) error {
	start := time.Now()
	pair, err := podveth.Find(at.netns, at.podIf)
	if errors.Is(err, podveth.ErrNotVeth) {
		log.Info("no probe: the pod interface is not a veth; result passed through", "reason", err)
		return nil
	}
	if err != nil {
		return failOrIgnore(conf, log, ErrHostVeth, "find the pod's host veth", err)
	}
	paths := conf.Paths()
	probeID := pins.ProbeID(at.containerID, at.podIf)
	hostIf, ifindex := pair.HostName, pair.HostIfindex
	opts := conf.attachOptions()
	if conf.withPodSide() {
		opts.Pod = &attach.PodInterface{Netns: at.netns, Ifindex: pair.PodIfindex}
	}
	found := time.Now()
	mode, err := attach.Attach(paths.PinDir, probeID, ifindex, opts)
	if err != nil {
		return failOrIgnore(conf, log, ErrAttach, "attach the probe to "+hostIf, err)
	}
	attached := time.Now()
	// Where ADD's time goes (make bench reads it): finding the veth,
	// attaching, registering.
	log = log.With("host_interface", hostIf, "ifindex", ifindex, "attach_mode", mode,
		"find_veth", found.Sub(start), "attach", attached.Sub(found))
	p := probeOf(hostIf, ifindex, mode, id, at, res)
	p.Pod.MAC = pair.PodMAC
	p.PodHooks = attach.PodHooks(paths.PinDir, probeID)
	log = log.With("pod_side", len(p.PodHooks) > 0)
	err = withDaemon(paths.Socket, func(d *registration.Client) error { return d.Register(p) })
	switch {
	case err == nil:
		log.Info("probe attached and registered", "register", time.Since(attached))
		return nil
	case conf.FailPolicy == FailPolicyFail:
		_ = attach.Detach(paths.PinDir, probeID, ifindex) // a failed ADD leaves nothing behind
		code := uint(ErrRegister)
		if daemonUnreachable(err) {
			code = types.ErrTryAgainLater
		}
		return types.NewError(code, "podint: cannot register the probe with podintd at "+paths.Socket,
			err.Error()+"; start podintd, or set failPolicy ignore to create pods without it")
	case daemonUnreachable(err):
		if serr := registration.SavePending(paths.PendingDir, probeID, p); serr != nil {
			log.Warn("cannot leave the registration for podintd", "err", serr)
		}
		log.Warn("probe attached, but podintd is unreachable: the pod is not blocked (failPolicy ignore); "+
			"podintd takes the registration in when it starts", "err", err)
	default:
		log.Warn("probe attached, but podintd refused its registration: the pod is not blocked (failPolicy ignore)", "err", err)
	}
	return nil
}

// failOrIgnore applies the fail policy to an error of ADD.
func failOrIgnore(conf *NetConf, log *slog.Logger, code uint, what string, err error) error {
	if conf.FailPolicy == FailPolicyFail {
		return types.NewError(code, "podint: cannot "+what, err.Error())
	}
	log.Warn("no probe: podint could not "+what+"; the pod is not blocked (failPolicy ignore)", "err", err)
	return nil
}

// cmdDel removes the probe, its pending registration and its registration.
// It succeeds whatever is already gone (netns, veth, pins, daemon) and
// after a half-done ADD, and even when the config no longer validates: a
// conflist edited since ADD must not leave pods stuck in deletion.
func cmdDel(args *skel.CmdArgs) error {
	conf, err := decodeConfig(args.StdinData)
	if err != nil {
		return err
	}
	log, done := logger(conf, args)
	defer done()
	if err := conf.validate(); err != nil {
		log.Warn("invalid configuration; removing the probe all the same", "err", err)
	}
	paths := conf.Paths()
	probeID := pins.ProbeID(args.ContainerID, args.IfName)
	ifindex := 0
	if attach.PinnedMode(paths.PinDir, probeID) == attach.TC {
		// tc filters live on the veth: find it while the pod's netns exists,
		// rather than searching every interface of the node.
		if pair, err := podveth.Find(args.Netns, args.IfName); err == nil {
			ifindex = pair.HostIfindex
		}
	}
	podSide := len(attach.PodHooks(paths.PinDir, probeID)) > 0
	start := time.Now()
	if err := attach.Detach(paths.PinDir, probeID, ifindex); err != nil {
		log.Warn("could not remove the whole probe", "err", err)
	}
	detached := time.Now()
	if err := registration.RemovePending(paths.PendingDir, probeID); err != nil {
		log.Warn("could not remove the pending registration", "err", err)
	}
	err = withDaemon(paths.Socket, func(d *registration.Client) error { return d.Unregister(args.ContainerID, args.IfName) })
	if err != nil {
		log.Info("could not unregister from podintd; it drops registrations without pins when it starts", "err", err)
		return nil
	}
	log.Info("probe removed and unregistered", "pod_side", podSide, "detach", detached.Sub(start), "unregister", time.Since(detached))
	return nil
}

// cmdCheck fails when the probe is not on the pod's veth or the daemon does
// not hold its registration, and with code 11 when the daemon is down.
func cmdCheck(args *skel.CmdArgs) error {
	conf, err := parseConfig(args.StdinData)
	if err != nil {
		return err
	}
	if conf.PrevResult == nil {
		return types.NewError(types.ErrInvalidNetworkConfig, "podint: no prevResult", "CHECK needs the result of the ADD")
	}
	pair, err := podveth.Find(args.Netns, args.IfName)
	if errors.Is(err, podveth.ErrNotVeth) {
		return nil // never probed
	}
	if err != nil {
		return types.NewError(ErrNoProbe, "podint: cannot find the pod's host veth", err.Error())
	}
	paths := conf.Paths()
	probeID := pins.ProbeID(args.ContainerID, args.IfName)
	if _, err := attach.Verify(paths.PinDir, probeID, pair.HostIfindex); err != nil {
		return types.NewError(ErrNoProbe, "podint: probe missing on "+pair.HostName, err.Error())
	}
	var reg *registration.Probe
	err = withDaemon(paths.Socket, func(d *registration.Client) error {
		ps, err := d.ListProbes()
		for _, p := range ps {
			if p.Kind == registration.KindPod && p.Pod != nil && pins.ProbeID(p.Pod.ContainerID, p.Pod.Interface) == probeID {
				reg = p
			}
		}
		return err
	})
	switch {
	case err != nil && daemonUnreachable(err):
		return types.NewError(types.ErrTryAgainLater, "podint: podintd unreachable", err.Error())
	case err != nil:
		return types.NewError(ErrNoProbe, "podint: podintd cannot list its probes", err.Error())
	case reg == nil:
		return types.NewError(ErrNoProbe, "podint: podintd holds no registration of this probe",
			"the probe is attached to "+pair.HostName+" but podintd does not know the pod; ADD it again")
	case int(reg.Ifindex) != pair.HostIfindex:
		return types.NewError(ErrNoProbe, "podint: podintd holds the probe on another interface",
			fmt.Sprintf("registered on ifindex %d, the pod's host veth is %s (%d)", reg.Ifindex, pair.HostName, pair.HostIfindex))
	}
	return nil
}

// cmdStatus succeeds unless failPolicy is fail and the daemon is
// unreachable: only then would ADD fail.
func cmdStatus(args *skel.CmdArgs) error {
	conf, err := parseConfig(args.StdinData)
	if err != nil {
		return err
	}
	if conf.FailPolicy != FailPolicyFail {
		return nil
	}
	err = withDaemon(conf.Paths().Socket, func(d *registration.Client) error { _, err := d.ListProbes(); return err })
	if err != nil {
		return types.NewError(types.ErrPluginNotAvailable, "podint: podintd unreachable and failPolicy is fail", err.Error())
	}
	return nil
}

// cmdGC removes the pod probes of attachments not in the valid list: their
// pins (and with them links and tc filters), pending registrations and, best
// effort, their registrations. Uplink probes belong to the daemon and stay.
func cmdGC(args *skel.CmdArgs) error {
	conf, err := parseConfig(args.StdinData)
	if err != nil {
		return err
	}
	log, done := logger(conf, args)
	defer done()
	valid := map[string]bool{}
	for _, a := range conf.validAttachments() {
		valid[pins.ProbeID(a.ContainerID, a.IfName)] = true
	}
	stale := func(id string) bool { return !valid[id] && !pins.IsUplinkProbeID(id) }
	paths := conf.Paths()
	ids, err := attach.AttachedProbes(paths.PinDir)
	if err != nil {
		return types.NewError(types.ErrIOFailure, "podint: cannot list probes", err.Error())
	}
	// Half-attached probes of ADDs that died count too; those of valid
	// attachments may be ADDs under way and stay.
	staged, err := attach.StagedProbes(paths.PinDir)
	if err != nil {
		return types.NewError(types.ErrIOFailure, "podint: cannot list half-attached probes", err.Error())
	}
	var staleIDs []string
	for _, id := range slices.Compact(slices.Sorted(slices.Values(append(ids, staged...)))) {
		if stale(id) {
			log.Info("removing stale probe", "probe", id)
			staleIDs = append(staleIDs, id)
		}
	}
	errs := []error{attach.DetachProbes(paths.PinDir, staleIDs)}
	for _, id := range registration.PendingProbeIDs(paths.PendingDir) {
		if stale(id) {
			errs = append(errs, registration.RemovePending(paths.PendingDir, id))
		}
	}
	err = withDaemon(paths.Socket, func(d *registration.Client) error {
		ps, err := d.ListProbes()
		for _, p := range ps {
			pod := p.Pod
			if p.Kind != registration.KindPod || pod == nil || !stale(pins.ProbeID(pod.ContainerID, pod.Interface)) {
				continue
			}
			log.Info("unregistering stale probe", "container", pod.ContainerID, "pod_interface", pod.Interface)
			err = errors.Join(err, d.Unregister(pod.ContainerID, pod.Interface))
		}
		return err
	})
	if err != nil {
		log.Info("could not unregister every stale probe from podintd; it drops registrations without pins when it starts", "err", err)
	}
	if err := errors.Join(errs...); err != nil {
		return types.NewError(types.ErrIOFailure, "podint: GC could not remove every stale probe", err.Error())
	}
	return nil
}
