package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/podint/podint/internal/collectorapi"
)

func init() { subcommands = append(subcommands, newClusterCmd) }

// defaultCollectorURL is the collector's Service in the Helm chart's
// namespace; PODINT_COLLECTOR_URL or --collector-url point elsewhere.
const defaultCollectorURL = "http://podint-collector.kube-system.svc:9090"

func newClusterCmd() *cobra.Command {
	var collectorURL string
	cmd := &cobra.Command{
		Use:   "cluster",
		Short: "Ask podint-collector about the whole cluster: slowest paths, drops, the topology graph",
	}
	def := defaultCollectorURL
	if v := os.Getenv("PODINT_COLLECTOR_URL"); v != "" {
		def = v
	}
	cmd.PersistentFlags().StringVar(&collectorURL, "collector-url", def, "podint-collector's HTTP address (env PODINT_COLLECTOR_URL)")
	client := func() *collectorapi.Client { return &collectorapi.Client{URL: collectorURL} }
	cmd.AddCommand(newPathsCmd(client), newDropsCmd(client), newGraphCmd(client))
	return cmd
}

func queryContext(cmd *cobra.Command) (context.Context, context.CancelFunc) {
	return context.WithTimeout(cmd.Context(), 30*time.Second)
}

func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

func newPathsCmd(client func() *collectorapi.Client) *cobra.Command {
	var q collectorapi.PathQuery
	var output string
	cmd := &cobra.Command{
		Use:   "paths",
		Short: "The slowest paths of the last --since, optionally between two namespaces",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx, cancel := queryContext(cmd)
			defer cancel()
			paths, err := client().Paths(ctx, q)
			if err != nil {
				return fmt.Errorf("paths: %w", err)
			}
			if output == "json" {
				return writeJSON(cmd.OutOrStdout(), paths)
			}
			tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "INTERVAL\tPROTO\tSOURCE\tSERVICE\tDESTINATION\tLATENCY\tREPORTS\tDROPS\tROUTE")
			for _, p := range paths {
				svc := "-" // the flow was not sent to a Service (or none is known)
				if p.Service != "" {
					svc = "svc " + p.Service
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%v\t%d\t%d\t%s\n", p.Interval.Local().Format(time.TimeOnly), p.Proto,
					p.Src.Name(), svc, p.Dst.Name(), time.Duration(p.LatencyNS), p.Reports, p.Drops, p.Route)
			}
			return tw.Flush()
		},
	}
	cmd.Flags().DurationVar(&q.Since, "since", 5*time.Minute, "how far back")
	cmd.Flags().StringVar(&q.SrcNamespace, "from", "", "only paths from this namespace")
	cmd.Flags().StringVar(&q.DstNamespace, "to", "", "only paths to this namespace")
	cmd.Flags().IntVar(&q.Limit, "limit", 20, "at most this many paths")
	cmd.Flags().StringVarP(&output, "output", "o", "table", "table or json")
	return cmd
}

func newDropsCmd(client func() *collectorapi.Client) *cobra.Command {
	var q collectorapi.DropQuery
	var pod, output string
	cmd := &cobra.Command{
		Use:   "drops",
		Short: "Where packets died and why, for a pod (--pod namespace/name) or all",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if pod != "" {
				ns, name, ok := strings.Cut(pod, "/")
				if !ok || ns == "" {
					return fmt.Errorf("--pod %q: want namespace/name (or namespace/ for a whole namespace)", pod)
				}
				q.Namespace, q.Pod = ns, name
			}
			ctx, cancel := queryContext(cmd)
			defer cancel()
			drops, err := client().Drops(ctx, q)
			if err != nil {
				return fmt.Errorf("drops: %w", err)
			}
			if output == "json" {
				return writeJSON(cmd.OutOrStdout(), drops)
			}
			tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "INTERVAL\tPROTO\tSOURCE\tDESTINATION\tNODE\tPORT\tREASON\tCOUNT")
			for _, d := range drops {
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%d\t%s (%d)\t%d\n", d.Interval.Local().Format(time.TimeOnly), d.Proto,
					d.Src.Name(), d.Dst.Name(), d.Node, d.IngressPort, d.ReasonName, d.Reason, d.Count)
			}
			return tw.Flush()
		},
	}
	cmd.Flags().DurationVar(&q.Since, "since", time.Hour, "how far back")
	cmd.Flags().StringVar(&pod, "pod", "", "namespace/name: drops of packets from or to this pod")
	cmd.Flags().IntVar(&q.Limit, "limit", 50, "at most this many rows")
	cmd.Flags().StringVarP(&output, "output", "o", "table", "table or json")
	return cmd
}

func newGraphCmd(client func() *collectorapi.Client) *cobra.Command {
	var since time.Duration
	var output string
	cmd := &cobra.Command{
		Use:   "graph",
		Short: "The topology the paths draw: pods and switches, edges with hop latency (DOT, Grafana Node Graph frames, JSON)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx, cancel := queryContext(cmd)
			defer cancel()
			g, err := client().Graph(ctx, since)
			if err != nil {
				return fmt.Errorf("graph: %w", err)
			}
			switch output {
			case "dot":
				_, err := io.WriteString(cmd.OutOrStdout(), g.DOT())
				return err
			case "grafana":
				return writeJSON(cmd.OutOrStdout(), g.NodeGraphFrames())
			case "json":
				return writeJSON(cmd.OutOrStdout(), g)
			}
			return fmt.Errorf("--output %q: want dot, grafana or json", output)
		},
	}
	cmd.Flags().DurationVar(&since, "since", 5*time.Minute, "how far back")
	cmd.Flags().StringVarP(&output, "output", "o", "dot", "dot, grafana (Node Graph frames) or json")
	return cmd
}
