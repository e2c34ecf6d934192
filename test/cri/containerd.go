// Package cri runs podint the way users install it, on one machine: a
// private containerd with its CRI plugin, the images built offline with
// buildah, and a CRI client that plays the kubelet, creating pods and
// running the DaemonSet's pod template as the chart renders it.
package cri

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"time"

	"github.com/podint/podint/test/harness"
)

// SandboxImage is the pause image containerd's CRI runs each pod's sandbox
// from; the chart's uninstall pods idle on the same image.
const SandboxImage = "registry.k8s.io/pause:3.10"

// Containerd is a containerd of its own (config, root, state, socket),
// running inside a test node's network namespace and a private mount
// namespace, so that nothing it does reaches the host's mounts.
type Containerd struct {
	Dir     string // config, root, state, socket and logs
	HostDir string // the node's host filesystem: hostPath volumes and CNI dirs live under it
	Socket  string
	LogPath string
	cmd     *exec.Cmd
	exited  chan struct{}
}

// config is containerd's config. The CRI options on the last lines of the
// cri section are what runc needs on the VMs podint's tests run on (no
// systemd, no cgroup delegation, no AppArmor profile loaded, a process
// oom_score_adj the containers may not go below); real nodes leave them at
// their defaults. The native snapshotter needs no overlayfs support from the
// filesystem the test's directory is on.
const config = `version = 2
root = %[1]q
state = %[2]q
disabled_plugins = ["io.containerd.snapshotter.v1.aufs", "io.containerd.snapshotter.v1.btrfs", "io.containerd.snapshotter.v1.zfs", "io.containerd.snapshotter.v1.devmapper", "io.containerd.snapshotter.v1.overlayfs", "io.containerd.internal.v1.tracing"]

[grpc]
  address = %[3]q
[ttrpc]
  address = %[4]q

[plugins."io.containerd.internal.v1.opt"]
  path = %[5]q

[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = %[6]q
  enable_selinux = false
  # runc on the test VMs: no cgroup manager to talk to, no AppArmor, and
  # an oom_score_adj floor set by whoever started the test.
  disable_cgroup = true
  disable_apparmor = true
  restrict_oom_score_adj = true
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "native"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
  # The node's CNI directories: install-cni writes them through the
  # DaemonSet's hostPath volumes, containerd reads the first file.
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = %[7]q
    conf_dir = %[8]q
    max_conf_num = 1
`

// privateNode runs, as root in a private mount namespace, before containerd.
// Everything containerd, its shims, runc and the CNI plugins do happens in
// this namespace and the node's network namespace:
//   - /run is a tmpfs of its own: runc's and the shims' state, and the pods'
//     network namespaces (/var/run/netns), stay out of the host's /run;
//   - the node's run/podint is /run/podint and its sys/fs/bpf is /sys/fs/bpf,
//     because the plugin, run by containerd with the conflist's "root": "/",
//     looks for the daemon's socket and pins there, as on a real node;
//   - the node's var/lib/cni is /var/lib/cni, containerd's CNI result cache;
//   - the node's sys/fs/bpf is made a shared mount. Kubernetes nodes get that
//     from systemd, which makes / rshared at boot; here PID 1 is not
//     systemd and / is private, and containerd refuses Bidirectional
//     propagation (mount-bpffs) from a source that is not shared. The bpffs
//     that mount-bpffs mounts then propagates to every peer: the node's
//     sys/fs/bpf, /sys/fs/bpf here, and podintd's HostToContainer mount;
//   - for the same reason the node's run/netns is shared and is /run/netns,
//     where containerd pins each pod's network namespace: the pins
//     propagate into podintd's HostToContainer mount of /var/run/netns.
const privateNode = `set -e
host="$1"; shift
mount -t tmpfs podint-node-run /run
mkdir -p /run/podint /run/netns
mount --bind "$host/run/podint" /run/podint
mount --bind "$host/run/netns" "$host/run/netns"
mount --make-shared "$host/run/netns"
mount --bind "$host/run/netns" /run/netns
mkdir -p /var/lib/cni  # the mount point: an empty directory, as containerd would leave
mount --bind "$host/var/lib/cni" /var/lib/cni
mount --bind "$host/sys/fs/bpf" "$host/sys/fs/bpf"
mount --make-shared "$host/sys/fs/bpf"
while umount /sys/fs/bpf 2>/dev/null; do :; done
mount --bind "$host/sys/fs/bpf" /sys/fs/bpf
exec "$@"`

// HostDirs are the node's host directories the test creates under HostDir.
var HostDirs = []string{"etc/cni/net.d", "opt/cni/bin", "run/podint", "run/netns", "var/lib/cni", "sys/fs/bpf", "var/log/pods"}

// StartContainerd starts containerd in the node's network namespace, its
// host filesystem under hostDir, and waits until its CRI answers.
func StartContainerd(ctx context.Context, ns *harness.NetNS, dir, hostDir string) (*Containerd, error) {
	c := &Containerd{Dir: dir, HostDir: hostDir, Socket: filepath.Join(dir, "containerd.sock"), LogPath: filepath.Join(dir, "containerd.log")}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	for _, d := range HostDirs {
		if err := os.MkdirAll(filepath.Join(hostDir, d), 0o755); err != nil {
			return nil, err
		}
	}
	// Debian's /var/run is /run; the DaemonSet mounts the same host dir at both.
	if err := os.Symlink("../run", filepath.Join(hostDir, "var/run")); err != nil && !os.IsExist(err) {
		return nil, err
	}
	cfg := fmt.Sprintf(config, filepath.Join(dir, "root"), filepath.Join(dir, "state"), c.Socket, c.Socket+".ttrpc",
		filepath.Join(dir, "opt"), SandboxImage, filepath.Join(hostDir, "opt/cni/bin"), filepath.Join(hostDir, "etc/cni/net.d"))
	cfgPath := filepath.Join(dir, "config.toml")
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o644); err != nil {
		return nil, err
	}
	logf, err := os.Create(c.LogPath)
	if err != nil {
		return nil, err
	}
	c.cmd = exec.Command("unshare", "--mount", "--propagation", "private", "sh", "-c", privateNode, "sh", hostDir,
		"containerd", "--config", cfgPath)
	c.cmd.Stdout, c.cmd.Stderr = logf, logf
	if err := ns.Start(c.cmd); err != nil {
		logf.Close()
		return nil, fmt.Errorf("start containerd: %w", err)
	}
	c.exited = make(chan struct{})
	go func() { c.cmd.Wait(); logf.Close(); close(c.exited) }()
	if err := c.waitReady(ctx); err != nil {
		c.Close()
		return nil, err
	}
	return c, nil
}

func (c *Containerd) waitReady(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	for {
		cl, err := Dial(c.Socket)
		if err == nil {
			err = cl.Ready(ctx)
			cl.Close()
			if err == nil {
				return nil
			}
		}
		select {
		case <-c.exited:
			return fmt.Errorf("containerd exited during start:\n%s", c.Log())
		case <-ctx.Done():
			return fmt.Errorf("containerd's CRI not ready: %v\n%s", err, c.Log())
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// Root is containerd's mount namespace as seen from the test: the bpffs
// that mount-bpffs mounts is visible only there and in its peers.
func (c *Containerd) Root() string { return fmt.Sprintf("/proc/%d/root", c.cmd.Process.Pid) }

// PID is containerd's process id (the sh before it execs keeps the pid).
func (c *Containerd) PID() int { return c.cmd.Process.Pid }

// Log is containerd's log so far.
func (c *Containerd) Log() string {
	b, _ := os.ReadFile(c.LogPath)
	return string(b)
}

// Import loads an image archive (docker-archive, as BuildImage writes it)
// into the CRI's namespace, unpacked for the native snapshotter.
func (c *Containerd) Import(ctx context.Context, archive string) error {
	out, err := exec.CommandContext(ctx, "ctr", "--address", c.Socket, "--namespace", "k8s.io",
		"images", "import", "--snapshotter", "native", archive).CombinedOutput()
	if err != nil {
		return fmt.Errorf("ctr images import %s: %v\n%s", archive, err, out)
	}
	return nil
}

// Close stops containerd and the shims it started (they outlive it by
// design, so they are found by the containerd address on their command line).
func (c *Containerd) Close() error {
	if c.cmd == nil || c.cmd.Process == nil {
		return nil
	}
	c.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-c.exited:
	case <-time.After(20 * time.Second):
		c.cmd.Process.Kill()
		<-c.exited
	}
	harness.KillShimsUnder(c.Dir)
	return nil
}
