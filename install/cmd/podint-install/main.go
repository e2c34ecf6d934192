// Command podint-install puts podint into a node's CNI setup: it copies the
// podint plugin binary into the CNI bin dir, chains {"type":"podint"} into the
// primary CNI's config and keeps it there. It runs in podint's DaemonSet with
// the host's CNI directories mounted under /host.
package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/podint/podint/install"
	"github.com/podint/podint/internal/bpffs"
)

// Version is set at build time (-ldflags -X main.Version=...).
var Version = "dev"

// settings are the flags every mode shares.
type settings struct {
	binDir, confDir, pluginBinary, pluginConfig, podSide string
	waitTimeout                                          time.Duration
	readByMultus, debug                                  bool
}

func (s *settings) installer() (*install.Installer, error) {
	entry, err := install.NewEntry([]byte(s.pluginConfig))
	if err != nil {
		return nil, fmt.Errorf("--plugin-config: %w", err)
	}
	podSide, err := install.ParsePodSide(s.podSide)
	if err != nil {
		return nil, fmt.Errorf("--pod-side: %w", err)
	}
	if err := install.CheckPodSide(podSide, entry); err != nil {
		return nil, err
	}
	level := slog.LevelInfo
	if s.debug {
		level = slog.LevelDebug
	}
	return &install.Installer{
		BinDir:       s.binDir,
		ConfDir:      s.confDir,
		PluginBinary: s.pluginBinary,
		Entry:        entry,
		ReadByMultus: s.readByMultus,
		PodSide:      podSide,
		Log:          slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level})),
	}, nil
}

func main() {
	var s settings
	var once bool
	root := &cobra.Command{
		Use:     "podint-install",
		Version: Version,
		Short:   "Install podint's CNI plugin on this node and keep it chained into the primary CNI's config",
		Long: `podint-install copies the podint CNI plugin into the CNI bin dir and appends
{"type":"podint"} to the config the container runtime uses (the first .conf,
.conflist or .json file of the CNI conf dir; with Multus, the cluster network it
delegates to). It then watches the conf dir and chains podint in again whenever
the primary CNI rewrites its file, until SIGTERM. Stopping leaves podint
installed; "podint-install uninstall" removes it.`,
		Args:          cobra.NoArgs,
		SilenceUsage:  true,
		SilenceErrors: true,
		RunE: func(cmd *cobra.Command, _ []string) error {
			in, err := s.installer()
			if err != nil {
				return err
			}
			if once {
				return in.InstallOnce(cmd.Context(), s.waitTimeout)
			}
			return in.Run(cmd.Context(), s.waitTimeout)
		},
	}
	f := root.PersistentFlags()
	f.StringVar(&s.binDir, "cni-bin-dir", "/host/opt/cni/bin", "the runtime's CNI bin dir, as mounted in this container")
	f.StringVar(&s.confDir, "cni-conf-dir", "/host/etc/cni/net.d", "the runtime's CNI conf dir, as mounted in this container")
	f.StringVar(&s.pluginBinary, "plugin-binary", "/opt/podint/bin/podint", "the podint CNI plugin binary to install")
	f.StringVar(&s.pluginConfig, "plugin-config", `{"root":"/","failPolicy":"ignore"}`, "JSON object of keys for podint's conflist entry besides \"type\"")
	f.StringVar(&s.podSide, "pod-side", "auto", "the plugin's pod-side probe (\"podSide\"): auto (off when the primary plugin is bridge, ptp or flannel, which never move packets into a pod past its host veth; on for any other), true or false")
	f.DurationVar(&s.waitTimeout, "wait-timeout", 0, "give up if no primary CNI config appears within this time (0: wait for ever)")
	f.BoolVar(&s.readByMultus, "read-by-multus", false, "the conf dir is Multus's cluster-network dir, not the runtime's (OpenShift: /run/multus/cni/net.d); files keep their names")
	f.BoolVar(&s.debug, "debug", false, "log every pass over the conf dir")
	root.CompletionOptions.DisableDefaultCmd = true
	root.Flags().BoolVar(&once, "once", false, "install and exit instead of watching the conf dir")

	var removeDirs []string
	uninstall := &cobra.Command{
		Use:   "uninstall",
		Short: "Remove podint's entry from every CNI config (restoring converted .conf files), then the plugin binary",
		Args:  cobra.NoArgs,
		RunE: func(*cobra.Command, []string) error {
			in, err := s.installer()
			if err != nil {
				return err
			}
			if err := in.Uninstall(); err != nil {
				return err
			}
			return in.RemoveDirs(removeDirs)
		},
	}
	uninstall.Flags().StringArrayVar(&removeDirs, "remove-dir", nil, "also delete this directory of podint's, e.g. its bpffs pin directory (repeatable)")
	root.AddCommand(uninstall)
	root.AddCommand(&cobra.Command{
		Use:   "mount-bpffs DIR",
		Short: "Mount a BPF file system on DIR unless one is there (for hosts that do not mount /sys/fs/bpf at boot)",
		Args:  cobra.ExactArgs(1),
		RunE: func(_ *cobra.Command, args []string) error {
			mounted, err := bpffs.Mount(args[0])
			if err == nil {
				slog.Info("bpffs", "dir", args[0], "mounted", mounted)
			}
			return err
		},
	})

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	if err := root.ExecuteContext(ctx); err != nil {
		fmt.Fprintln(os.Stderr, "podint-install:", err)
		stop()
		os.Exit(1)
	}
}
