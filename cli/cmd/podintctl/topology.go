package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/podint/podint/internal/topology"
	podintv1 "github.com/podint/podint/proto/podint/v1"
)

func init() { subcommands = append(subcommands, newTopologyCmd) }

// topologyFormats are the --output values of topology.
const topologyFormats = "table, json, dot or deepinsight"

func newTopologyCmd() *cobra.Command {
	var output string
	cmd := &cobra.Command{
		Use:   "topology",
		Short: "Show the node as an INT switch: its ports (pod veths, uplinks) and the pods behind them",
		Long: `topology prints what podintd knows of the node: its switch id, its uplinks with their
addresses, and every pod port (INT port id = ifindex) with the pod behind it.

  -o table        one line per port (default)
  -o json         the API's TopologyResponse
  -o dot          a Graphviz graph: podintctl topology -o dot | dot -Tsvg > node.svg
  -o deepinsight  a DeepInsight topology document for the node (switches, hosts, subnets, links)`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if !slices.Contains([]string{"table", "json", "dot", "deepinsight"}, output) {
				return fmt.Errorf("--output %q: want %s", output, topologyFormats)
			}
			var topo *podintv1.TopologyResponse
			if err := callDaemon(cmd, func(ctx context.Context, c podintv1.PodintClient) (err error) {
				topo, err = c.Topology(ctx, &podintv1.TopologyRequest{})
				return err
			}); err != nil {
				return fmt.Errorf("get topology: %w", err)
			}
			return printTopology(cmd.OutOrStdout(), topo, output)
		},
	}
	cmd.Flags().StringVarP(&output, "output", "o", "table", topologyFormats)
	return cmd
}

func printTopology(w io.Writer, topo *podintv1.TopologyResponse, output string) error {
	switch output {
	case "table":
		return printTopologyTable(w, topo)
	case "json":
		return printJSON(w, topo)
	case "dot":
		return topology.WriteDOT(w, topo)
	case "deepinsight":
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(topology.DeepInsight(topo))
	}
	return fmt.Errorf("--output %q: want %s", output, topologyFormats)
}

func printTopologyTable(w io.Writer, t *podintv1.TopologyResponse) error {
	n := t.GetNode()
	fmt.Fprintf(w, "node %s  switch id %s (%d)\n", n.GetName(), n.GetSwitchIp(), n.GetSwitchId())
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "PORT\tINTERFACE\tKIND\tMODE\tPOD\tADDRESSES\tSUBNETS\tGATEWAY\tCONTAINER")
	for _, u := range n.GetUplinks() {
		fmt.Fprintf(tw, "%d\t%s\tuplink\t%s\t-\t%s\t-\t-\t-\n", u.GetIfindex(), u.GetHostInterface(), u.GetAttachMode(),
			orDash(strings.Join(u.GetAddresses(), ",")))
	}
	if cpu := n.GetCpuPort(); cpu != 0 { // the node's own stack, an INT switch's CPU port
		fmt.Fprintf(tw, "%d\tlo\tcpu\tnetfilter\t-\t-\t-\t-\t-\n", cpu)
	}
	for _, p := range t.GetPorts() {
		pod := p.GetPod()
		var addrs, subnets, gws []string
		for _, ip := range pod.GetIps() {
			addrs = append(addrs, ip.GetAddress())
			subnets = appendNew(subnets, ip.GetSubnet())
			gws = appendNew(gws, ip.GetGateway())
		}
		cid := pod.GetContainerId()
		if len(cid) > 12 {
			cid = cid[:12]
		}
		name := pod.GetNamespace() + "/" + pod.GetName()
		if pod.GetName() == "" {
			name = "?" // rebuilt from the interface alone: the pod is unknown
		}
		fmt.Fprintf(tw, "%d\t%s\tpod\t%s\t%s\t%s\t%s\t%s\t%s\n", p.GetIfindex(), p.GetHostInterface(), p.GetAttachMode(),
			name, orDash(strings.Join(addrs, ",")), orDash(strings.Join(subnets, ",")), orDash(strings.Join(gws, ",")), cid)
	}
	return tw.Flush()
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func appendNew(list []string, s string) []string {
	if s == "" || slices.Contains(list, s) {
		return list
	}
	return append(list, s)
}
