// Command podintctl talks to the podint node daemon (topology, probes, stats)
// and runs a standalone INT collector.
package main

import (
	"fmt"
	"os"

	"github.com/spf13/cobra"

	"github.com/podint/podint/internal/instance"
)

// Version is set at build time (-ldflags -X main.Version=...).
var Version = "dev"

func main() {
	if err := newRootCmd().Execute(); err != nil {
		fmt.Fprintln(os.Stderr, "podintctl:", err)
		os.Exit(1)
	}
}

func newRootCmd() *cobra.Command {
	root := &cobra.Command{
		Use:           "podintctl",
		Short:         "Inspect podint on a node and collect its INT reports",
		Version:       Version,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.PersistentFlags().String("root", instance.DefaultRoot, "instance root of the podint node (socket under <root>/run/podint)")
	root.PersistentFlags().String("socket", "", "daemon socket (default <root>/run/podint/podint.sock)")
	for _, c := range subcommands {
		root.AddCommand(c())
	}
	return root
}

// subcommands is filled by each command's file in its init function, so
// commands live in their own files without editing this one.
var subcommands []func() *cobra.Command
