package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/podint/podint/cli/collect"
)

func init() { subcommands = append(subcommands, newCollectCmd) }

func newCollectCmd() *cobra.Command {
	var o collect.Options
	cmd := &cobra.Command{
		Use:   "collect",
		Short: "Receive INT reports (Telemetry Report v0.5 and v2.0) and print them",
		Long: `collect is a standalone INT collector: point podintd (or any INT switch)
at this host's UDP port and it prints one line per report, or JSON lines,
and optionally a summary table: per flow packets and hop latency
p50/p99/max, drops by reason, reports lost from sequence gaps per source.
With --pcap it also writes every datagram it receives to a pcap file that
Wireshark and tshark open (outer Ethernet/IP/UDP rebuilt around the payload).
No daemon socket is needed. Stop it with Ctrl-C.`,
		Example: `  podintctl collect
  podintctl collect --listen [::]:32766 --json
  podintctl collect --summary --pcap int.pcap`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			if ctx == nil {
				ctx = context.Background()
			}
			ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
			defer stop()
			o.Out = cmd.OutOrStdout()
			return collect.Run(ctx, o)
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.Listen, "listen", ":32766", "UDP address to receive reports on")
	f.BoolVar(&o.JSON, "json", false, "print one JSON object per report")
	f.BoolVar(&o.Summary, "summary", false, "live summary table on a terminal (redrawn every second), else printed at exit")
	f.StringVar(&o.PcapPath, "pcap", "", "also write received datagrams to this pcap `FILE`")
	return cmd
}
