package plugin

import (
	"github.com/containernetworking/cni/pkg/types"
	current "github.com/containernetworking/cni/pkg/types/100"

	"github.com/podint/podint/bpf/attach"
	"github.com/podint/podint/internal/cniresult"
	"github.com/podint/podint/internal/registration"
)

// cniArgs are the Kubernetes keys of CNI_ARGS.
type cniArgs struct {
	types.CommonArgs
	K8S_POD_NAMESPACE          types.UnmarshallableString //nolint:revive // CNI_ARGS keys
	K8S_POD_NAME               types.UnmarshallableString //nolint:revive
	K8S_POD_UID                types.UnmarshallableString //nolint:revive
	K8S_POD_INFRA_CONTAINER_ID types.UnmarshallableString //nolint:revive
}

// podIdentity is what CNI_ARGS tell about the pod. Kubernetes runtimes set
// these keys; other runtimes may not, and the probe works without them.
type podIdentity struct {
	Namespace, Name, UID, InfraContainerID string
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

// attachment is one pod interface a plugin call is about.
type attachment struct {
	containerID, netns, podIf string
}

// probeOf is the registration of a pod's probe.
func probeOf(hostIf string, ifindex int, mode attach.Mode, id podIdentity, at attachment, res *current.Result) *registration.Probe {
	return &registration.Probe{
		Ifindex:       uint32(ifindex),
		HostInterface: hostIf,
		Kind:          registration.KindPod,
		AttachMode:    string(mode),
		Pod: &registration.Pod{
			Namespace:        id.Namespace,
			Name:             id.Name,
			UID:              id.UID,
			ContainerID:      at.containerID,
			Netns:            at.netns,
			Interface:        at.podIf,
			IPs:              cniresult.PodIPs(res, at.podIf),
			InfraContainerID: id.InfraContainerID,
		},
	}
}
