// Package plugin is the podint chained CNI plugin. On ADD it attaches the
// node daemon's pinned probes to the pod's host veth and registers the probe
// with the daemon; on DEL it undoes that, forgivingly. It passes the
// previous plugin's result through unchanged.
package plugin

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"

	"github.com/containernetworking/cni/pkg/skel"
	"github.com/containernetworking/cni/pkg/types"
	current "github.com/containernetworking/cni/pkg/types/100"
	"github.com/containernetworking/cni/pkg/version"

	"github.com/podint/podint/bpf"
)

// Error codes of podint's own (CNI reserves 0-99).
const (
	ErrAttach   = 100 // the probe could not be attached to the host veth
	ErrRegister = 101 // the daemon refused or could not take the registration (failPolicy fail)
	ErrNoProbe  = 102 // CHECK: the probe is missing
)

// Funcs are the plugin's verbs for skel.
var Funcs = skel.CNIFuncs{Add: cmdAdd, Del: cmdDel, Check: cmdCheck, Status: cmdStatus, GC: cmdGC}

// cniArgs are the Kubernetes keys of CNI_ARGS.
type cniArgs struct {
	types.CommonArgs
	K8S_POD_NAMESPACE          types.UnmarshallableString //nolint:revive // CNI_ARGS keys
	K8S_POD_NAME               types.UnmarshallableString //nolint:revive
	K8S_POD_UID                types.UnmarshallableString //nolint:revive
	K8S_POD_INFRA_CONTAINER_ID types.UnmarshallableString //nolint:revive
}

func identity(args string) podIdentity {
	a := cniArgs{}
	a.IgnoreUnknown = true
	if err := types.LoadArgs(args, &a); err != nil {
		return podIdentity{}
	}
	return podIdentity{
		Namespace:        string(a.K8S_POD_NAMESPACE),
		Name:             string(a.K8S_POD_NAME),
		UID:              string(a.K8S_POD_UID),
		InfraContainerID: string(a.K8S_POD_INFRA_CONTAINER_ID),
	}
}

// logger writes to stderr (the runtime's log) and to the config's logFile.
func logger(conf *NetConf, args *skel.CmdArgs) (*slog.Logger, func()) {
	var w io.Writer = os.Stderr
	closeFn := func() {}
	if conf.LogFile != "" {
		if f, err := os.OpenFile(conf.LogFile, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o600); err == nil {
			w = io.MultiWriter(os.Stderr, f)
			closeFn = func() { f.Close() }
		}
	}
	return slog.New(slog.NewTextHandler(w, nil)).With("plugin", "podint",
		"container", args.ContainerID, "ifname", args.IfName), closeFn
}

func cmdAdd(args *skel.CmdArgs) error {
	conf, err := parseConfig(args.StdinData)
	if err != nil {
		return err
	}
	if conf.PrevResult == nil {
		return types.NewError(types.ErrInvalidNetworkConfig, "podint: no prevResult",
			"podint is a chained plugin: list it after the primary plugin (bridge, ptp, calico, cilium...) in a .conflist")
	}
	log, done := logger(conf, args)
	defer done()
	passThrough := func() error { return types.PrintResult(conf.PrevResult, conf.CNIVersion) }

	res, err := current.NewResultFromResult(conf.PrevResult)
	if err != nil {
		return types.NewError(types.ErrDecodingFailure, "podint: cannot read prevResult", err.Error())
	}
	host, err := findHostVeth(args.Netns, args.IfName)
	if errors.Is(err, errNotVeth) {
		log.Info("pod interface is not a veth; no probe", "reason", err)
		return passThrough()
	}
	if err != nil {
		return failOrIgnore(conf, log, ErrAttach, "find the pod's host veth", err, passThrough)
	}
	paths := conf.Paths()
	probeID := bpf.ProbeID(args.ContainerID, args.IfName)
	if err := bpf.Attach(paths.PinDir, probeID, host.Attrs().Index); err != nil {
		_ = bpf.Detach(paths.PinDir, probeID) // leave nothing half attached
		return failOrIgnore(conf, log, ErrAttach, "attach probe to "+host.Attrs().Name, err, passThrough)
	}
	p := probeOf(host.Attrs().Name, host.Attrs().Index, identity(args.Args), args.ContainerID, args.Netns, args.IfName, res)
	if err := register(paths.Socket, p); err != nil {
		// The probe is attached and reports flow; the daemon learns of the
		// pod when it reconciles, unless the operator asked to fail.
		return failOrIgnore(conf, log, ErrRegister, "register the probe with podintd at "+paths.Socket, err, passThrough)
	}
	log.Info("probe attached", "host_interface", host.Attrs().Name, "ifindex", host.Attrs().Index)
	return passThrough()
}

// failOrIgnore applies the fail policy to an error of ADD.
func failOrIgnore(conf *NetConf, log *slog.Logger, code uint, what string, err error, pass func() error) error {
	if conf.FailPolicy == FailPolicyFail {
		return types.NewError(code, "podint: cannot "+what, err.Error())
	}
	log.Warn("podint could not "+what+"; the pod is not blocked (failPolicy ignore)", "err", err)
	return pass()
}

func cmdDel(args *skel.CmdArgs) error {
	conf, err := parseConfig(args.StdinData)
	if err != nil {
		return err
	}
	log, done := logger(conf, args)
	defer done()
	paths := conf.Paths()
	// DEL succeeds whatever is already gone: netns, veth, pins or daemon.
	if err := unregister(paths.Socket, args.ContainerID, args.IfName); err != nil {
		log.Info("could not unregister from podintd; it reconciles on start", "err", err)
	}
	if err := bpf.Detach(paths.PinDir, bpf.ProbeID(args.ContainerID, args.IfName)); err != nil {
		log.Warn("could not remove probe pins", "err", err)
	}
	return nil
}

func cmdCheck(args *skel.CmdArgs) error {
	conf, err := parseConfig(args.StdinData)
	if err != nil {
		return err
	}
	if conf.PrevResult == nil {
		return types.NewError(types.ErrInvalidNetworkConfig, "podint: no prevResult", "CHECK needs the result of the ADD")
	}
	host, err := findHostVeth(args.Netns, args.IfName)
	if errors.Is(err, errNotVeth) {
		return nil // never probed
	}
	if err != nil {
		return types.NewError(ErrNoProbe, "podint: cannot find the pod's host veth", err.Error())
	}
	paths := conf.Paths()
	probeID := bpf.ProbeID(args.ContainerID, args.IfName)
	for _, d := range bpf.Directions {
		idx, err := bpf.LinkIfindex(paths.PinDir, probeID, d)
		if err != nil {
			return types.NewError(ErrNoProbe, "podint: "+d+" probe missing", err.Error())
		}
		if idx != host.Attrs().Index {
			return types.NewError(ErrNoProbe, "podint: "+d+" probe on the wrong interface",
				fmt.Sprintf("attached to ifindex %d, the pod's veth is %d", idx, host.Attrs().Index))
		}
	}
	if err := daemonReachable(paths.Socket); err != nil {
		return types.NewError(types.ErrTryAgainLater, "podint: podintd unreachable", err.Error())
	}
	return nil
}

func cmdStatus(args *skel.CmdArgs) error {
	conf, err := parseConfig(args.StdinData)
	if err != nil {
		return err
	}
	if conf.FailPolicy != FailPolicyFail {
		return nil
	}
	if err := daemonReachable(conf.Paths().Socket); err != nil {
		return types.NewError(types.ErrPluginNotAvailable, "podint: podintd unreachable and failPolicy is fail", err.Error())
	}
	return nil
}

func cmdGC(args *skel.CmdArgs) error {
	conf, err := parseConfig(args.StdinData)
	if err != nil {
		return err
	}
	log, done := logger(conf, args)
	defer done()
	valid := map[string]bool{}
	for _, a := range conf.validAttachments() {
		valid[bpf.ProbeID(a.ContainerID, a.IfName)] = true
	}
	paths := conf.Paths()
	ids, err := bpf.AttachedProbes(paths.PinDir)
	if err != nil {
		return types.NewError(types.ErrIOFailure, "podint: cannot list probes", err.Error())
	}
	var errs []error
	for _, id := range ids {
		if valid[id] || bpf.IsUplinkProbeID(id) {
			continue
		}
		log.Info("removing stale probe", "probe", id)
		if err := bpf.Detach(paths.PinDir, id); err != nil {
			errs = append(errs, err)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return types.NewError(types.ErrIOFailure, "podint: GC could not remove every stale probe", err.Error())
	}
	return nil
}

// SupportedVersions are the CNI spec versions podint speaks: every version
// with chained plugins (prevResult) from 0.3.0 on.
var SupportedVersions = version.PluginSupports("0.3.0", "0.3.1", "0.4.0", "1.0.0", "1.1.0")
