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
	"github.com/podint/podint/daemon/api"
	"github.com/podint/podint/daemon/config"
)

// Version is set at build time (-ldflags -X main.Version=...).
var Version = "dev"

func main() {
	cmdline := config.Default() // what the flags set; Resolve builds the configuration
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
			// cobra parsed the command line once; Resolve adds the
			// environment and the file to it, now and at each reload.
			cfg, err := config.Resolve(cmd.Flags())
			if err != nil {
				return err
			}
			level := new(slog.LevelVar)
			_ = level.UnmarshalText([]byte(cfg.LogLevel))
			log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
			log.Info("podintd starting", "version", Version)
			api.RouteGRPCLogs(log)
			ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
			defer stop()
			d, err := daemon.New(cfg, daemon.Options{
				Log:    log,
				Level:  level,
				Reload: func() (config.Config, error) { return config.Resolve(cmd.Flags()) },
			})
			if err != nil {
				return err
			}
			return d.Run(ctx)
		},
	}
	cmdline.BindFlags(cmd.Flags())
	if err := cmd.Execute(); err != nil {
		fmt.Fprintln(os.Stderr, "podintd:", err)
		os.Exit(1)
	}
}
