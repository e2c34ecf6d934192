package plugin

import (
	"context"
	"net"
	"time"

	current "github.com/containernetworking/cni/pkg/types/100"

	"github.com/podint/podint/daemon/api"
	podintv1 "github.com/podint/podint/proto/podint/v1"
)

// daemonTimeout bounds every exchange with the daemon: pod creation must
// never wait long on podint.
const daemonTimeout = 2 * time.Second

// podIdentity is what CNI_ARGS tell about the pod (Kubernetes runtimes set
// these keys; other runtimes may not).
type podIdentity struct {
	Namespace, Name, UID, InfraContainerID string
}

func probeOf(hostIf string, ifindex int, id podIdentity, containerID, netns, podIf string, res *current.Result) *podintv1.Probe {
	pod := &podintv1.Pod{
		Namespace:   id.Namespace,
		Name:        id.Name,
		Uid:         id.UID,
		ContainerId: containerID,
		Netns:       netns,
		Interface:   podIf,
	}
	if res != nil {
		for _, ip := range res.IPs {
			// An IP is the pod's when it sits on the pod interface, or when
			// the result does not say which interface it is on.
			if ip.Interface != nil && (*ip.Interface < 0 || *ip.Interface >= len(res.Interfaces) ||
				res.Interfaces[*ip.Interface].Name != podIf) {
				continue
			}
			pip := &podintv1.PodIP{Address: ip.Address.String()}
			if ip.Gateway != nil {
				pip.Gateway = ip.Gateway.String()
			}
			pip.Subnet = (&net.IPNet{IP: ip.Address.IP.Mask(ip.Address.Mask), Mask: ip.Address.Mask}).String()
			pod.Ips = append(pod.Ips, pip)
		}
	}
	return &podintv1.Probe{
		Ifindex:       uint32(ifindex),
		HostInterface: hostIf,
		Kind:          podintv1.PortKind_PORT_KIND_POD,
		Pod:           pod,
		AttachMode:    "tcx",
	}
}

func register(socket string, p *podintv1.Probe) error {
	c, closeFn, err := api.Dial(socket)
	if err != nil {
		return err
	}
	defer closeFn()
	ctx, cancel := context.WithTimeout(context.Background(), daemonTimeout)
	defer cancel()
	_, err = c.Register(ctx, &podintv1.RegisterRequest{Probe: p})
	return err
}

func unregister(socket, containerID, podIf string) error {
	c, closeFn, err := api.Dial(socket)
	if err != nil {
		return err
	}
	defer closeFn()
	ctx, cancel := context.WithTimeout(context.Background(), daemonTimeout)
	defer cancel()
	_, err = c.Unregister(ctx, &podintv1.UnregisterRequest{ContainerId: containerID, PodInterface: podIf})
	return err
}

// daemonReachable asks the daemon for its probes, which only a live daemon answers.
func daemonReachable(socket string) error {
	c, closeFn, err := api.Dial(socket)
	if err != nil {
		return err
	}
	defer closeFn()
	ctx, cancel := context.WithTimeout(context.Background(), daemonTimeout)
	defer cancel()
	_, err = c.ListProbes(ctx, &podintv1.ListProbesRequest{})
	return err
}
