package harness

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os/exec"
	"path/filepath"

	"github.com/containernetworking/cni/pkg/types"
)

// PluginCall is one call of a CNI plugin binary, made directly as a
// runtime makes it, for tests that need its exact stdout, stderr and exit
// status. Empty fields are left out of the environment.
type PluginCall struct {
	Command     string // CNI_COMMAND: ADD, DEL, CHECK, STATUS, GC or VERSION
	ContainerID string
	Netns       string
	IfName      string
	Args        string // CNI_ARGS
	Stdin       []byte // the network configuration
}

// PluginOutput is what a plugin call printed and how it exited.
type PluginOutput struct {
	Stdout, Stderr []byte
	ExitCode       int
}

// CNIError decodes stdout as the CNI error a failed call must print.
func (o PluginOutput) CNIError() (*types.Error, error) {
	e := &types.Error{}
	if err := json.Unmarshal(o.Stdout, e); err != nil {
		return nil, fmt.Errorf("stdout is not a CNI error (%v): %q", err, o.Stdout)
	}
	return e, nil
}

// ExecPlugin runs the plugin binary at path in the caller's namespace.
func ExecPlugin(ctx context.Context, path string, call PluginCall) (PluginOutput, error) {
	cmd := exec.CommandContext(ctx, path)
	env := []string{"CNI_PATH=" + filepath.Dir(path)}
	for k, v := range map[string]string{"CNI_COMMAND": call.Command, "CNI_CONTAINERID": call.ContainerID,
		"CNI_NETNS": call.Netns, "CNI_IFNAME": call.IfName, "CNI_ARGS": call.Args} {
		if v != "" {
			env = append(env, k+"="+v)
		}
	}
	cmd.Env = env
	cmd.Stdin = bytes.NewReader(call.Stdin)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	out := PluginOutput{Stdout: stdout.Bytes(), Stderr: stderr.Bytes()}
	var exit *exec.ExitError
	if errors.As(err, &exit) {
		out.ExitCode = exit.ExitCode()
		err = nil
	}
	return out, err
}

// ExecPlugin runs one of the node's CNI plugins (e.g. "podint") inside the
// node.
func (n *Node) ExecPlugin(ctx context.Context, plugin string, call PluginCall) (out PluginOutput, err error) {
	err = n.NS.Do(func() error {
		out, err = ExecPlugin(ctx, filepath.Join(n.Config.BinDir, plugin), call)
		return err
	})
	return out, err
}

// PodintCall is a call of podint for p with the runtime's usual
// environment.
func (p *Pod) PodintCall(command string, stdin []byte) PluginCall {
	return PluginCall{
		Command: command, ContainerID: p.ContainerID, Netns: p.NS.Path, IfName: PodIfName, Stdin: stdin,
		Args: fmt.Sprintf("IgnoreUnknown=1;K8S_POD_NAMESPACE=default;K8S_POD_NAME=%s;K8S_POD_UID=%s;K8S_POD_INFRA_CONTAINER_ID=%s",
			p.Name, p.UID, p.ContainerID),
	}
}
