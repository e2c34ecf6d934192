package main

import (
	"context"
	"fmt"
	"io"
	"sort"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	podintv1 "github.com/podint/podint/proto/podint/v1"
)

func init() { subcommands = append(subcommands, newStatsCmd) }

func newStatsCmd() *cobra.Command {
	var output string
	cmd := &cobra.Command{
		Use:   "stats",
		Short: "Show the daemon's counters: events, reports, and every place one can be lost",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			var st *podintv1.StatsResponse
			if err := callDaemon(cmd, func(ctx context.Context, c podintv1.PodintClient) (err error) {
				st, err = c.Stats(ctx, &podintv1.StatsRequest{})
				return err
			}); err != nil {
				return fmt.Errorf("get stats: %w", err)
			}
			switch output {
			case "table":
				return printStats(cmd.OutOrStdout(), st.GetCounters())
			case "json":
				return printJSON(cmd.OutOrStdout(), st)
			}
			return fmt.Errorf("--output %q: want table or json", output)
		},
	}
	cmd.Flags().StringVarP(&output, "output", "o", "table", "table or json")
	return cmd
}

func printStats(w io.Writer, cs []*podintv1.Counter) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "COUNTER\tVALUE\tMEANING")
	for _, c := range cs {
		name := c.GetName()
		if len(c.GetLabels()) > 0 {
			var ls []string
			for k, v := range c.GetLabels() {
				ls = append(ls, k+"="+v)
			}
			sort.Strings(ls)
			name += "{" + strings.Join(ls, ",") + "}"
		}
		fmt.Fprintf(tw, "%s\t%d\t%s\n", name, c.GetValue(), c.GetHelp())
	}
	return tw.Flush()
}
