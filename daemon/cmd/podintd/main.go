// Command podintd is the podint node daemon.
package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/podint/podint/daemon"
	"github.com/podint/podint/daemon/config"
)

// Version is set at build time (-ldflags -X main.Version=...).
var Version = "dev"

func main() {
	cfg := config.Default()
	cmd := &cobra.Command{
		Use:   "podintd",
		Short: "podint node daemon: turns probe events into INT reports",
		Long: "podintd loads podint's probes, turns their events into INT reports for the collectors and serves\n" +
			"the API on a unix socket. Every flag can also be given as an environment variable PODINT_<FLAG>\n" +
			"(e.g. PODINT_COLLECTOR) or as a key of the --config YAML file; flags win over variables, and\n" +
			"variables over the file.",
		Version:       Version,
		SilenceUsage:  true,
		SilenceErrors: true,
		Args:          cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			// The flags bound to cfg serve --help; Load reads them again with
			// the environment and the file, and is what a reload calls.
			args := os.Args[1:]
			cfg, err := config.Load(args)
			if err != nil {
				return err
			}
			level := new(slog.LevelVar)
			_ = level.UnmarshalText([]byte(cfg.LogLevel))
			log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
			log.Info("podintd starting", "version", Version)
			ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
			defer stop()
			d, err := daemon.New(cfg, daemon.Options{
				Log:    log,
				Level:  level,
				Reload: func() (config.Config, error) { return config.Load(args) },
			})
			if err != nil {
				return err
			}
			return d.Run(ctx)
		},
	}
	cfg.BindFlags(cmd.Flags())
	if err := cmd.Execute(); err != nil {
		fmt.Fprintln(os.Stderr, "podintd:", err)
		os.Exit(1)
	}
}
