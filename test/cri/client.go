package cri

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// Client is the kubelet's side of the CRI, what the tests call to create
// and remove pods and containers.
type Client struct {
	conn    *grpc.ClientConn
	Runtime runtimeapi.RuntimeServiceClient
	Images  runtimeapi.ImageServiceClient
}

// Dial connects to a CRI socket.
func Dial(socket string) (*Client, error) {
	conn, err := grpc.NewClient("unix://"+socket, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		return nil, fmt.Errorf("CRI socket %s: %w", socket, err)
	}
	return &Client{conn: conn, Runtime: runtimeapi.NewRuntimeServiceClient(conn), Images: runtimeapi.NewImageServiceClient(conn)}, nil
}

func (c *Client) Close() error { return c.conn.Close() }

// Ready reports whether the runtime and its network are ready, as the
// kubelet checks before it creates pods.
func (c *Client) Ready(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	st, err := c.Runtime.Status(ctx, &runtimeapi.StatusRequest{})
	if err != nil {
		return err
	}
	for _, cond := range st.GetStatus().GetConditions() {
		if cond.Type == runtimeapi.RuntimeReady && !cond.Status {
			return fmt.Errorf("runtime not ready: %s %s", cond.Reason, cond.Message)
		}
	}
	return nil
}

// PodMeta names a pod as the kubelet does; containerd passes it to the CNI
// chain as K8S_POD_NAME, K8S_POD_NAMESPACE and K8S_POD_UID.
type PodMeta struct {
	Name, Namespace, UID string
	HostNetwork          bool
	Privileged           bool
	LogDir               string
}

func (m PodMeta) config() *runtimeapi.PodSandboxConfig {
	netMode := runtimeapi.NamespaceMode_POD
	if m.HostNetwork {
		netMode = runtimeapi.NamespaceMode_NODE
	}
	hostname := m.Name
	if m.HostNetwork {
		hostname = "" // the node's: runc cannot set one in the host's UTS namespace
	}
	return &runtimeapi.PodSandboxConfig{
		Metadata:     &runtimeapi.PodSandboxMetadata{Name: m.Name, Namespace: m.Namespace, Uid: m.UID},
		Hostname:     hostname,
		LogDirectory: m.LogDir,
		Labels:       map[string]string{"io.kubernetes.pod.name": m.Name, "io.kubernetes.pod.namespace": m.Namespace, "io.kubernetes.pod.uid": m.UID},
		Linux: &runtimeapi.LinuxPodSandboxConfig{SecurityContext: &runtimeapi.LinuxSandboxSecurityContext{
			Privileged:       m.Privileged,
			NamespaceOptions: &runtimeapi.NamespaceOption{Network: netMode, Pid: runtimeapi.NamespaceMode_CONTAINER, Ipc: runtimeapi.NamespaceMode_POD},
		}},
	}
}

// Sandbox is a pod created through the CRI.
type Sandbox struct {
	ID     string
	Meta   PodMeta
	Config *runtimeapi.PodSandboxConfig
}

// RunPodSandbox creates a pod: its sandbox, and for a pod network the CNI ADD.
func (c *Client) RunPodSandbox(ctx context.Context, m PodMeta) (*Sandbox, error) {
	cfg := m.config()
	r, err := c.Runtime.RunPodSandbox(ctx, &runtimeapi.RunPodSandboxRequest{Config: cfg})
	if err != nil {
		return nil, fmt.Errorf("RunPodSandbox %s/%s: %w", m.Namespace, m.Name, err)
	}
	return &Sandbox{ID: r.PodSandboxId, Meta: m, Config: cfg}, nil
}

// RemovePodSandbox stops (CNI DEL) and removes a pod and its containers.
func (c *Client) RemovePodSandbox(ctx context.Context, id string) error {
	if _, err := c.Runtime.StopPodSandbox(ctx, &runtimeapi.StopPodSandboxRequest{PodSandboxId: id}); err != nil {
		return fmt.Errorf("StopPodSandbox %s: %w", id, err)
	}
	if _, err := c.Runtime.RemovePodSandbox(ctx, &runtimeapi.RemovePodSandboxRequest{PodSandboxId: id}); err != nil {
		return fmt.Errorf("RemovePodSandbox %s: %w", id, err)
	}
	return nil
}

// RemoveAll removes every pod the runtime has, the test's cleanup.
func (c *Client) RemoveAll(ctx context.Context) error {
	r, err := c.Runtime.ListPodSandbox(ctx, &runtimeapi.ListPodSandboxRequest{})
	if err != nil {
		return err
	}
	var first error
	for _, s := range r.Items {
		if err := c.RemovePodSandbox(ctx, s.Id); err != nil && first == nil {
			first = err
		}
	}
	return first
}

// PodIP is the pod's IPv4 address from the CNI result.
func (c *Client) PodIP(ctx context.Context, id string) (string, error) {
	st, err := c.Runtime.PodSandboxStatus(ctx, &runtimeapi.PodSandboxStatusRequest{PodSandboxId: id})
	if err != nil {
		return "", err
	}
	return st.GetStatus().GetNetwork().GetIp(), nil
}

// NetNSPath is the pod's network namespace, through its sandbox process.
func (c *Client) NetNSPath(ctx context.Context, id string) (string, error) {
	st, err := c.Runtime.PodSandboxStatus(ctx, &runtimeapi.PodSandboxStatusRequest{PodSandboxId: id, Verbose: true})
	if err != nil {
		return "", err
	}
	var info struct {
		Pid int `json:"pid"`
	}
	if err := json.Unmarshal([]byte(st.Info["info"]), &info); err != nil || info.Pid == 0 {
		return "", fmt.Errorf("sandbox %s: no pid in its status (%v)", id, err)
	}
	return fmt.Sprintf("/proc/%d/ns/net", info.Pid), nil
}

// ContainerState returns a container's state and exit code.
func (c *Client) ContainerState(ctx context.Context, id string) (runtimeapi.ContainerState, int32, error) {
	st, err := c.Runtime.ContainerStatus(ctx, &runtimeapi.ContainerStatusRequest{ContainerId: id})
	if err != nil {
		return 0, 0, err
	}
	return st.Status.State, st.Status.ExitCode, nil
}

// ContainerPID is the process id of a running container's init process.
func (c *Client) ContainerPID(ctx context.Context, id string) (int, error) {
	st, err := c.Runtime.ContainerStatus(ctx, &runtimeapi.ContainerStatusRequest{ContainerId: id, Verbose: true})
	if err != nil {
		return 0, err
	}
	var info struct {
		Pid int `json:"pid"`
	}
	if err := json.Unmarshal([]byte(st.Info["info"]), &info); err != nil || info.Pid == 0 {
		return 0, fmt.Errorf("container %s: no pid in its status (%v)", id, err)
	}
	return info.Pid, nil
}

// WaitCNIPlugin waits until the CNI config the runtime has loaded chains
// (present) or does not chain a plugin of that type: containerd reloads its
// config when the file changes, a moment later.
func (c *Client) WaitCNIPlugin(ctx context.Context, pluginType string, present bool) error {
	for {
		st, err := c.Runtime.Status(ctx, &runtimeapi.StatusRequest{Verbose: true})
		if err != nil {
			return err
		}
		if strings.Contains(st.Info["cniconfig"], `"type":"`+pluginType+`"`) == present {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("the runtime's CNI config chains %s: %v, want %v: %w\n%s", pluginType, !present, present, ctx.Err(), st.Info["cniconfig"])
		case <-time.After(50 * time.Millisecond):
		}
	}
}
