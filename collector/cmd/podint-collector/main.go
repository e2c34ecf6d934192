// Command podint-collector is podint's cluster collector: it receives every
// node's INT reports, names the pods of every address, joins what each
// node saw of a flow into its path, stores paths in PostgreSQL and serves
// Prometheus metrics. docs/collector.md describes it.
package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/podint/podint/collector/service"
)

// Version is set at build time (-ldflags -X main.Version=...).
var Version = "dev"

func main() {
	cfg := service.Default()
	cmd := &cobra.Command{
		Use:   "podint-collector",
		Short: "podint cluster collector: INT reports of every node into paths, PostgreSQL and metrics",
		Long: "podint-collector receives Telemetry Report v0.5 and v2.0 over UDP from podint nodes and INT switches,\n" +
			"reads each node's pods from its podintd (--http-listen) to name the pods of every address, joins\n" +
			"the reports of a flow into its path and stores paths per interval in PostgreSQL. The database\n" +
			"connection string can also come from the environment variable PODINT_DATABASE_URL.",
		Version:       Version,
		SilenceUsage:  true,
		SilenceErrors: true,
		Args:          cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if cfg.DatabaseURL == "" {
				cfg.DatabaseURL = os.Getenv("PODINT_DATABASE_URL")
			}
			if cfg.DatabaseURL == "" {
				slog.Warn("no --database-url: paths are not stored, only served as metrics")
			}
			ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
			defer stop()
			slog.Info("podint-collector starting", "version", Version)
			c, err := service.New(ctx, cfg)
			if err != nil {
				return err
			}
			return c.Run(ctx)
		},
	}
	f := cmd.Flags()
	f.StringVar(&cfg.Receive.Listen, "listen", cfg.Receive.Listen, "UDP address to receive INT reports on")
	f.IntVar(&cfg.Receive.Readers, "readers", cfg.Receive.Readers, "sockets (SO_REUSEPORT) and reader goroutines")
	f.IntVar(&cfg.Receive.RcvBuf, "rcvbuf", cfg.Receive.RcvBuf, "SO_RCVBUF bytes per socket")
	f.StringVar(&cfg.HTTPListen, "http-listen", cfg.HTTPListen, "TCP address for /metrics and /healthz (empty: off)")
	f.StringVar(&cfg.DatabaseURL, "database-url", "", "PostgreSQL connection string (empty: PODINT_DATABASE_URL; neither: no storage)")
	f.DurationVar(&cfg.Interval, "interval", cfg.Interval, "aggregation interval: one row per flow and hop per interval")
	f.DurationVar(&cfg.Retention, "retention", cfg.Retention, "delete stored rows older than this (0: keep)")
	f.IntVar(&cfg.QueueBatches, "queue", cfg.QueueBatches, "intervals the write queue holds while the database is slow or down")
	f.IntVar(&cfg.MaxPaths, "max-paths", 200000, "paths per interval kept in memory; further reports are counted and dropped")
	f.IntVar(&cfg.Topology.Port, "node-topology-port", cfg.Topology.Port, "port of podintd's --http-listen on each node's switch-id address (0: no pod names)")
	f.DurationVar(&cfg.Topology.Interval, "node-topology-interval", cfg.Topology.Interval, "how often each node's topology is read")
	f.BoolVar(&cfg.Topology.AnySender, "node-topology-any-sender", false, "read the topology of every switch id, also when its reports come from another address (NAT)")
	f.StringVar(&cfg.Topology.TokenFile, "node-topology-token-file", "", "file with a bearer token sent to the nodes' topology endpoint")
	if err := cmd.Execute(); err != nil {
		fmt.Fprintf(os.Stderr, "podint-collector: %v\n", err)
		os.Exit(1)
	}
}
