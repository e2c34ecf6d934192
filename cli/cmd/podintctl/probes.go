package main

import (
	"context"
	"fmt"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	podintv1 "github.com/podint/podint/proto/podint/v1"
)

func init() { subcommands = append(subcommands, newProbesCmd, newHealthCmd) }

func newProbesCmd() *cobra.Command {
	var output string
	cmd := &cobra.Command{
		Use:   "probes",
		Short: "List the probes the daemon holds: one per pod veth and uplink",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			var resp *podintv1.ListProbesResponse
			if err := callDaemon(cmd, func(ctx context.Context, c podintv1.PodintClient) (err error) {
				resp, err = c.ListProbes(ctx, &podintv1.ListProbesRequest{})
				return err
			}); err != nil {
				return fmt.Errorf("list probes: %w", err)
			}
			switch output {
			case "json":
				return printJSON(cmd.OutOrStdout(), resp)
			case "table":
				tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
				fmt.Fprintln(tw, "IFINDEX\tINTERFACE\tKIND\tMODE\tCONTAINER\tPOD INTERFACE\tPOD SIDE\tREGISTERED")
				for _, p := range resp.GetProbes() {
					kind, cid, podIf, since := "uplink", "-", "-", "-"
					if p.GetKind() == podintv1.PortKind_PORT_KIND_POD {
						kind, cid, podIf = "pod", p.GetPod().GetContainerId(), p.GetPod().GetInterface()
					}
					if p.GetRegisteredUnixNano() != 0 {
						since = time.Unix(0, p.GetRegisteredUnixNano()).Format(time.DateTime)
					}
					podSide := "-"
					if hooks := p.GetPodHooks(); len(hooks) > 0 {
						podSide = strings.Join(hooks, ",")
					}
					fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", p.GetIfindex(), p.GetHostInterface(), kind,
						p.GetAttachMode(), cid, podIf, podSide, since)
				}
				return tw.Flush()
			}
			return fmt.Errorf("--output %q: want table or json", output)
		},
	}
	cmd.Flags().StringVarP(&output, "output", "o", "table", "table or json")
	return cmd
}

func newHealthCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "health",
		Short: "Say whether the daemon works (ok), works with something to fix (degraded), or not (exits 1)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			var h *podintv1.HealthResponse
			if err := callDaemon(cmd, func(ctx context.Context, c podintv1.PodintClient) (err error) {
				h, err = c.Health(ctx, &podintv1.HealthRequest{})
				return err
			}); err != nil {
				return fmt.Errorf("health: %w", err)
			}
			out := cmd.OutOrStdout()
			for _, w := range h.GetWarnings() {
				fmt.Fprintln(out, "warning:", w)
			}
			if !h.GetOk() {
				for _, p := range h.GetProblems() {
					fmt.Fprintln(out, "problem:", p)
				}
				return fmt.Errorf("podintd is not healthy")
			}
			if len(h.GetWarnings()) > 0 {
				fmt.Fprintln(out, "degraded")
			} else {
				fmt.Fprintln(out, "ok")
			}
			return nil
		},
	}
}
