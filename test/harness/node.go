package harness

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"time"

	"github.com/containernetworking/cni/libcni"
	"github.com/containernetworking/cni/pkg/invoke"
	"github.com/containernetworking/cni/pkg/version"
	"golang.org/x/sys/unix"

	"github.com/podint/podint/internal/apiclient"
	"github.com/podint/podint/internal/instance"
	podintv1 "github.com/podint/podint/proto/podint/v1"
)

// NodeConfig describes one simulated node.
type NodeConfig struct {
	Name    string // short name, part of namespace and interface names
	BinDir  string // podint binaries and reference CNI plugins (see Build)
	Subnet  string // pod subnet, e.g. 10.22.0.0/24
	Subnet6 string // IPv6 pod subnet for a dual-stack node, e.g. fd00:22::/64
	// BPFFS is how the node's bpffs is prepared: "" mounted, "ro" mounted
	// read-only, "none" left for podintd to mount.
	BPFFS      string
	SwitchID   string   // the node's INT switch id as an IPv4 address; "" lets podintd find it
	Collectors []string // host:port as seen from inside the node
	DaemonArgs []string // extra podintd flags
	// ExtraPlugins are inserted between the primary plugin and podint, e.g.
	// portmap or bandwidth entries.
	ExtraPlugins []map[string]any
	// PodintConf holds extra keys for the podint entry of the conflist.
	PodintConf map[string]any
	// Primary is the primary plugin: "bridge" (default) or "ptp".
	Primary string
	// IPMasq has the primary plugin masquerade pod traffic that leaves the
	// pod subnet (ipMasq: true, the default of many CNIs).
	IPMasq bool
	// CNIVersion is the conflist's cniVersion (default 1.1.0).
	CNIVersion string
}

// Node is a simulated Kubernetes node: a network namespace with a bridge
// for its pods, an instance root with its own bpffs, and podintd.
type Node struct {
	Config   NodeConfig
	NS       *NetNS
	Paths    instance.Paths
	ConfList *libcni.NetworkConfigList
	cni      *libcni.CNIConfig
	cniErr   *lockedBuffer
	daemon   *exec.Cmd
	exited   chan struct{}
	LogPath  string // podintd's log
	cleanups []func()
}

// NewNode creates the node's namespace and instance root. The daemon is
// started separately (StartDaemon), so tests can run without it.
func NewNode(cfg NodeConfig) (n *Node, err error) {
	n = &Node{Config: cfg}
	defer func() {
		if err != nil {
			n.Close()
		}
	}()
	if n.NS, err = newNetNS(fmt.Sprintf("%s%d-%s", Prefix, os.Getpid(), cfg.Name)); err != nil {
		return nil, err
	}
	n.cleanups = append(n.cleanups, func() { n.NS.Delete() })

	// The creator's pid in the name lets RemoveLeftovers find the roots of
	// a run that was killed.
	root, err := os.MkdirTemp("", fmt.Sprintf("%s%d-%s-", Prefix, os.Getpid(), cfg.Name))
	if err != nil {
		return nil, err
	}
	n.cleanups = append(n.cleanups, func() { os.RemoveAll(root) })
	n.Paths = instance.New(root)
	bpffs := filepath.Join(root, "sys/fs/bpf")
	if err := os.MkdirAll(bpffs, 0o700); err != nil {
		return nil, err
	}
	// Whatever ends up mounted there (by us or by podintd) goes with the node.
	n.cleanups = append(n.cleanups, func() {
		for unix.Unmount(bpffs, unix.MNT_DETACH) == nil {
		}
		unix.Unmount(filepath.Join(bpffs, "podint"), unix.MNT_DETACH)
	})
	switch cfg.BPFFS {
	case "":
		if err := unix.Mount("bpffs", bpffs, "bpf", 0, "mode=0700"); err != nil {
			return nil, fmt.Errorf("mount bpffs for node %s: %w", cfg.Name, err)
		}
	case "ro":
		if err := unix.Mount("bpffs", bpffs, "bpf", unix.MS_RDONLY, "mode=0700"); err != nil {
			return nil, fmt.Errorf("mount read-only bpffs for node %s: %w", cfg.Name, err)
		}
	case "none":
	default:
		return nil, fmt.Errorf("NodeConfig.BPFFS %q: want \"\", \"ro\" or \"none\"", cfg.BPFFS)
	}
	n.LogPath = filepath.Join(root, "podintd.log")

	if n.ConfList, err = libcni.ConfListFromBytes(n.conflist()); err != nil {
		return nil, fmt.Errorf("conflist: %w", err)
	}
	n.cniErr = &lockedBuffer{}
	n.cni = libcni.NewCNIConfigWithCacheDir([]string{cfg.BinDir}, filepath.Join(root, "var/lib/cni/cache"),
		&invoke.DefaultExec{RawExec: &invoke.RawExec{Stderr: n.cniErr}, PluginDecoder: version.PluginDecoder{}})
	return n, nil
}

// UseRoot points the node's paths and its conflist's podint entry at
// another instance root: a daemon started with --root / in a private mount
// namespace is reached through /proc/<pid>/root.
func (n *Node) UseRoot(root string) (err error) {
	n.Paths = instance.New(root)
	n.ConfList, err = libcni.ConfListFromBytes(n.conflist())
	return err
}

// BridgeName is the node's pod bridge.
func (n *Node) BridgeName() string { return "podint-" + n.Config.Name }

// StartDaemon runs podintd inside the node and waits until it serves its API.
func (n *Node) StartDaemon(ctx context.Context) error {
	logf, err := os.OpenFile(n.LogPath, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o600)
	if err != nil {
		return err
	}
	args := []string{"--root", n.Paths.Root, "--node-name", n.Config.Name}
	if n.Config.SwitchID != "" { // else podintd takes the default route's address
		args = append(args, "--switch-id", n.Config.SwitchID)
	}
	for _, c := range n.Config.Collectors {
		args = append(args, "--collector", c)
	}
	args = append(args, n.Config.DaemonArgs...)
	cmd := exec.Command(filepath.Join(n.Config.BinDir, "podintd"), args...)
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := n.NS.Start(cmd); err != nil {
		logf.Close()
		return fmt.Errorf("start podintd: %w", err)
	}
	n.daemon = cmd
	n.exited = make(chan struct{})
	go func() { cmd.Wait(); logf.Close(); close(n.exited) }()
	return n.waitReady(ctx)
}

func (n *Node) waitReady(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	for {
		c, closeFn, err := apiclient.Dial(n.Paths.Socket)
		if err == nil {
			cctx, ccancel := context.WithTimeout(ctx, time.Second)
			_, err = c.ListProbes(cctx, &podintv1.ListProbesRequest{})
			ccancel()
			closeFn()
			if err == nil {
				return nil
			}
		}
		select {
		case <-n.exited:
			return fmt.Errorf("podintd exited during start:\n%s", n.DaemonLog())
		case <-ctx.Done():
			return fmt.Errorf("podintd not ready: %v\n%s", err, n.DaemonLog())
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// StopDaemon signals podintd and waits for it to exit.
func (n *Node) StopDaemon(sig syscall.Signal) error {
	if n.daemon == nil {
		return nil
	}
	_ = n.daemon.Process.Signal(sig)
	select {
	case <-n.exited:
	case <-time.After(30 * time.Second):
		_ = n.daemon.Process.Kill()
		<-n.exited
		return errors.New("podintd did not exit within 30s of " + sig.String())
	}
	n.daemon = nil
	return nil
}

// DaemonPID is podintd's process id, 0 when it is not running.
func (n *Node) DaemonPID() int {
	if n.daemon == nil {
		return 0
	}
	return n.daemon.Process.Pid
}

// DaemonLog returns what podintd logged so far.
func (n *Node) DaemonLog() string {
	b, _ := os.ReadFile(n.LogPath)
	return string(b)
}

// PluginLog returns what the CNI plugins wrote to stderr so far.
func (n *Node) PluginLog() string { return n.cniErr.String() }

// Client dials the node's podintd.
func (n *Node) Client() (podintv1.PodintClient, func() error, error) {
	return apiclient.Dial(n.Paths.Socket)
}

// Close stops the daemon and removes everything the node created.
func (n *Node) Close() error {
	_ = n.StopDaemon(syscall.SIGTERM)
	for i := len(n.cleanups) - 1; i >= 0; i-- {
		n.cleanups[i]()
	}
	n.cleanups = nil
	return nil
}

var _ io.Writer = (*lockedBuffer)(nil)
