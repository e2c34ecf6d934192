package main

import (
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/podint/podint/test/demo"
)

func init() { subcommands = append(subcommands, newDemoCmd) }

func newDemoCmd() *cobra.Command {
	var binDir string
	var duration time.Duration
	cmd := &cobra.Command{
		Use:   "demo",
		Short: "Run a demo node (pods in network namespaces, real CNI plugins, podintd) and print its INT reports",
		Long: "demo builds a simulated node in network namespaces, adds two pods through libcni with the\n" +
			"bridge, host-local and podint plugins, starts podintd, sends traffic between the pods and prints\n" +
			"the decoded INT reports. It needs root. Everything is removed on exit or Ctrl-C.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if os.Geteuid() != 0 {
				return fmt.Errorf("demo needs root (network namespaces, bpffs, TCX)")
			}
			if binDir == "" {
				exe, err := os.Executable()
				if err != nil {
					return err
				}
				binDir = filepath.Dir(exe)
			}
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			return demo.Run(ctx, demo.Options{BinDir: binDir, Duration: duration, Out: cmd.OutOrStdout()})
		},
	}
	cmd.Flags().StringVar(&binDir, "bin-dir", "", "directory with podintd, podint and the reference CNI plugins (default: podintctl's own)")
	cmd.Flags().DurationVar(&duration, "duration", 15*time.Second, "how long to run; 0 runs until Ctrl-C")
	return cmd
}
