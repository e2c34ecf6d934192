package cri

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// Kubelet runs pods the way the kubelet does, through the CRI, on a node
// whose host filesystem is HostDir: a hostPath volume's path p is HostDir+p,
// the directory containerd's CNI settings and the plugin's root "/" name.
type Kubelet struct {
	CRI      *Client
	HostDir  string
	NodeName string
	NodeIP   string // status.hostIP
	// Withheld lists, by container, the capabilities the template adds
	// that this machine cannot grant (outside its bounding set): the
	// container runs without them, as it would fail to start otherwise.
	Withheld map[string][]string
}

// DaemonPod is a DaemonSet's pod running on the node.
type DaemonPod struct {
	Sandbox    *Sandbox
	Containers map[string]string // name → container id of the running containers
}

// RunDaemonPod runs the pod template as the kubelet would: the sandbox,
// each init container to completion in order, then the containers.
func (k *Kubelet) RunDaemonPod(ctx context.Context, m *Manifest, name, uid string) (*DaemonPod, error) {
	spec := m.Pod
	privileged := false
	for _, c := range append(append([]Container{}, spec.InitContainers...), spec.Containers...) {
		privileged = privileged || c.SecurityContext.Privileged
	}
	logDir := filepath.Join(k.HostDir, "var/log/pods", "podint_"+name+"_"+uid)
	if err := os.MkdirAll(logDir, 0o755); err != nil {
		return nil, err
	}
	sb, err := k.CRI.RunPodSandbox(ctx, PodMeta{Name: name, Namespace: "podint", UID: uid,
		HostNetwork: spec.HostNetwork, Privileged: privileged, LogDir: logDir})
	if err != nil {
		return nil, err
	}
	p := &DaemonPod{Sandbox: sb, Containers: map[string]string{}}
	for _, c := range spec.InitContainers {
		id, err := k.start(ctx, m, sb, c, uid)
		if err != nil {
			return p, err
		}
		if err := k.waitExit(ctx, id, c.Name, logDir); err != nil {
			return p, err
		}
	}
	for _, c := range spec.Containers {
		id, err := k.start(ctx, m, sb, c, uid)
		if err != nil {
			return p, err
		}
		p.Containers[c.Name] = id
	}
	return p, nil
}

// Restart replaces a container of the pod by a new one from the template,
// as the kubelet does when the container exits.
func (k *Kubelet) Restart(ctx context.Context, m *Manifest, p *DaemonPod, name string) error {
	if old, ok := p.Containers[name]; ok {
		k.CRI.Runtime.StopContainer(ctx, &runtimeapi.StopContainerRequest{ContainerId: old, Timeout: 10})
		if _, err := k.CRI.Runtime.RemoveContainer(ctx, &runtimeapi.RemoveContainerRequest{ContainerId: old}); err != nil {
			return fmt.Errorf("RemoveContainer %s: %w", name, err)
		}
	}
	for _, c := range m.Pod.Containers {
		if c.Name == name {
			id, err := k.start(ctx, m, p.Sandbox, c, p.Sandbox.Meta.UID)
			p.Containers[name] = id
			return err
		}
	}
	return fmt.Errorf("no container %q in the pod template", name)
}

// Logs is a container's log, as the CRI wrote it.
func (k *Kubelet) Logs(p *DaemonPod, name string) string {
	b, _ := os.ReadFile(filepath.Join(p.Sandbox.Meta.LogDir, name+".log"))
	return string(b)
}

func (k *Kubelet) start(ctx context.Context, m *Manifest, sb *Sandbox, c Container, uid string) (string, error) {
	cfg, err := k.containerConfig(m, c, uid)
	if err != nil {
		return "", err
	}
	r, err := k.CRI.Runtime.CreateContainer(ctx, &runtimeapi.CreateContainerRequest{
		PodSandboxId: sb.ID, Config: cfg, SandboxConfig: sb.Config})
	if err != nil {
		return "", fmt.Errorf("CreateContainer %s: %w", c.Name, err)
	}
	if _, err := k.CRI.Runtime.StartContainer(ctx, &runtimeapi.StartContainerRequest{ContainerId: r.ContainerId}); err != nil {
		return "", fmt.Errorf("StartContainer %s: %w\n%s", c.Name, err, k.logs(sb, c.Name))
	}
	return r.ContainerId, nil
}

func (k *Kubelet) logs(sb *Sandbox, name string) string {
	b, _ := os.ReadFile(filepath.Join(sb.Meta.LogDir, name+".log"))
	return string(b)
}

func (k *Kubelet) waitExit(ctx context.Context, id, name, logDir string) error {
	for {
		state, code, err := k.CRI.ContainerState(ctx, id)
		if err != nil {
			return err
		}
		if state == runtimeapi.ContainerState_CONTAINER_EXITED {
			if code != 0 {
				b, _ := os.ReadFile(filepath.Join(logDir, name+".log"))
				return fmt.Errorf("init container %s exited %d:\n%s", name, code, b)
			}
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("init container %s: %w", name, ctx.Err())
		case <-time.After(100 * time.Millisecond):
		}
	}
}

var envRef = regexp.MustCompile(`\$\(([A-Za-z_][A-Za-z0-9_]*)\)`)

// containerConfig translates a container of the template into the CRI's
// terms, as the kubelet does: env (with the downward API's fields),
// $(VAR) in command and args, mounts with their propagation, privileges.
func (k *Kubelet) containerConfig(m *Manifest, c Container, uid string) (*runtimeapi.ContainerConfig, error) {
	env := map[string]string{}
	var envs []*runtimeapi.KeyValue
	for _, e := range c.Env {
		v := e.Value
		switch e.ValueFrom.FieldRef.FieldPath {
		case "":
		case "spec.nodeName":
			v = k.NodeName
		case "status.hostIP":
			v = k.NodeIP
		default:
			return nil, fmt.Errorf("container %s: env %s from field %s: this kubelet knows spec.nodeName and status.hostIP", c.Name, e.Name, e.ValueFrom.FieldRef.FieldPath)
		}
		env[e.Name] = v
		envs = append(envs, &runtimeapi.KeyValue{Key: e.Name, Value: []byte(v)})
	}
	expand := func(args []string) []string {
		out := make([]string, len(args))
		for i, a := range args {
			out[i] = envRef.ReplaceAllStringFunc(a, func(s string) string {
				if v, ok := env[envRef.FindStringSubmatch(s)[1]]; ok {
					return v
				}
				return s // the kubelet leaves unknown references as written
			})
		}
		return out
	}
	var mounts []*runtimeapi.Mount
	for _, vm := range c.VolumeMounts {
		src, err := k.volumeSource(m, vm.Name, uid)
		if err != nil {
			return nil, fmt.Errorf("container %s: %w", c.Name, err)
		}
		prop := runtimeapi.MountPropagation_PROPAGATION_PRIVATE
		switch vm.MountPropagation {
		case "", "None":
		case "HostToContainer":
			prop = runtimeapi.MountPropagation_PROPAGATION_HOST_TO_CONTAINER
		case "Bidirectional":
			if !c.SecurityContext.Privileged {
				return nil, fmt.Errorf("container %s: Bidirectional propagation of %s in a container that is not privileged; Kubernetes refuses it", c.Name, vm.Name)
			}
			prop = runtimeapi.MountPropagation_PROPAGATION_BIDIRECTIONAL
		default:
			return nil, fmt.Errorf("container %s: mountPropagation %q", c.Name, vm.MountPropagation)
		}
		mounts = append(mounts, &runtimeapi.Mount{ContainerPath: vm.MountPath, HostPath: src, Readonly: vm.ReadOnly, Propagation: prop})
	}
	sc := c.SecurityContext
	add, missing := grantable(sc.Capabilities.Add)
	if len(missing) > 0 {
		if k.Withheld == nil {
			k.Withheld = map[string][]string{}
		}
		k.Withheld[c.Name] = missing
	}
	return &runtimeapi.ContainerConfig{
		Metadata: &runtimeapi.ContainerMetadata{Name: c.Name},
		Image:    &runtimeapi.ImageSpec{Image: c.Image},
		Command:  expand(c.Command),
		Args:     expand(c.Args),
		Envs:     envs,
		Mounts:   mounts,
		LogPath:  c.Name + ".log",
		Labels:   map[string]string{"io.kubernetes.container.name": c.Name},
		Linux: &runtimeapi.LinuxContainerConfig{SecurityContext: &runtimeapi.LinuxContainerSecurityContext{
			Privileged:     sc.Privileged,
			ReadonlyRootfs: sc.ReadOnlyRootFilesystem,
			Capabilities:   &runtimeapi.Capability{AddCapabilities: add, DropCapabilities: sc.Capabilities.Drop},
			NamespaceOptions: &runtimeapi.NamespaceOption{
				Network: map[bool]runtimeapi.NamespaceMode{true: runtimeapi.NamespaceMode_NODE, false: runtimeapi.NamespaceMode_POD}[m.Pod.HostNetwork],
				Pid:     runtimeapi.NamespaceMode_CONTAINER, Ipc: runtimeapi.NamespaceMode_POD,
			},
		}},
	}, nil
}

// volumeSource is the host directory behind a volume: a hostPath under the
// node's host filesystem (created for DirectoryOrCreate), or a ConfigMap's
// files written to the pod's directory.
func (k *Kubelet) volumeSource(m *Manifest, name, uid string) (string, error) {
	for _, v := range m.Pod.Volumes {
		if v.Name != name {
			continue
		}
		switch {
		case v.HostPath != nil:
			p := filepath.Join(k.HostDir, v.HostPath.Path)
			if v.HostPath.Type == "DirectoryOrCreate" {
				if err := os.MkdirAll(p, 0o755); err != nil {
					return "", err
				}
			}
			// The node's var/run is a symlink to run, as on Debian;
			// containerd checks the propagation of the mount the path
			// is on without following it.
			if r, err := filepath.EvalSymlinks(p); err == nil {
				p = r
			}
			return p, nil
		case v.ConfigMap != nil:
			data, ok := m.ConfigMaps[v.ConfigMap.Name]
			if !ok {
				return "", fmt.Errorf("volume %s: no ConfigMap %s in the manifest", name, v.ConfigMap.Name)
			}
			dir := filepath.Join(k.HostDir, "var/lib/kubelet/pods", uid, "volumes/configmap", name)
			if err := os.MkdirAll(dir, 0o755); err != nil {
				return "", err
			}
			for f, content := range data {
				if strings.Contains(f, "/") {
					return "", fmt.Errorf("ConfigMap %s key %q", v.ConfigMap.Name, f)
				}
				if err := os.WriteFile(filepath.Join(dir, f), []byte(content), 0o644); err != nil {
					return "", err
				}
			}
			return dir, nil
		}
		return "", fmt.Errorf("volume %s: only hostPath and configMap volumes are known here", name)
	}
	return "", fmt.Errorf("no volume %s in the pod template", name)
}
