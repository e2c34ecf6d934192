package main

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"
	"google.golang.org/protobuf/encoding/protojson"

	podintv1 "github.com/podint/podint/proto/podint/v1"
)

func init() { subcommands = append(subcommands, newTopologyCmd) }

func newTopologyCmd() *cobra.Command {
	var output string
	cmd := &cobra.Command{
		Use:   "topology",
		Short: "Show the node as an INT switch: its ports (pod veths, uplinks) and the pods behind them",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, closeFn, err := daemonClient(cmd)
			if err != nil {
				return err
			}
			defer closeFn()
			ctx, cancel := callContext(cmd)
			defer cancel()
			topo, err := c.Topology(ctx, &podintv1.TopologyRequest{})
			if err != nil {
				return fmt.Errorf("get topology: %w", err)
			}
			switch output {
			case "table":
				return printTopologyTable(cmd.OutOrStdout(), topo)
			case "json":
				b, err := protojson.MarshalOptions{Multiline: true, Indent: "  "}.Marshal(topo)
				if err != nil {
					return err
				}
				_, err = fmt.Fprintln(cmd.OutOrStdout(), string(b))
				return err
			}
			return fmt.Errorf("--output %q: want table or json", output)
		},
	}
	cmd.Flags().StringVarP(&output, "output", "o", "table", "table or json")
	return cmd
}

func printTopologyTable(w io.Writer, t *podintv1.TopologyResponse) error {
	n := t.GetNode()
	fmt.Fprintf(w, "node %s  switch id %s (%d)\n", n.GetName(), n.GetSwitchIp(), n.GetSwitchId())
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "PORT\tINTERFACE\tKIND\tPOD\tPOD IPS\tCONTAINER")
	rows := append(append([]*podintv1.Probe{}, n.GetUplinks()...), t.GetPorts()...)
	for _, p := range rows {
		kind, pod, ips, cid := "uplink", "-", "-", "-"
		if p.GetKind() == podintv1.PortKind_PORT_KIND_POD {
			kind = "pod"
			pod = p.GetPod().GetNamespace() + "/" + p.GetPod().GetName()
			var as []string
			for _, ip := range p.GetPod().GetIps() {
				as = append(as, ip.GetAddress())
			}
			ips = strings.Join(as, ",")
			cid = p.GetPod().GetContainerId()
			if len(cid) > 12 {
				cid = cid[:12]
			}
		}
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\n", p.GetIfindex(), p.GetHostInterface(), kind, pod, ips, cid)
	}
	return tw.Flush()
}
