package demo

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"text/tabwriter"
	"time"

	podintv1 "github.com/podint/podint/proto/podint/v1"
	"github.com/podint/podint/test/harness"
)

// printTopology prints what each node's daemon knows, and writes the
// cluster as Graphviz DOT (and PNG when Graphviz is installed).
func printTopology(w io.Writer, c *harness.Cluster, dotPath string) error {
	var topos []*podintv1.TopologyResponse
	for _, n := range c.Nodes {
		cl, closeFn, err := n.Client()
		if err != nil {
			return err
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		t, err := cl.Topology(ctx, &podintv1.TopologyRequest{})
		cancel()
		closeFn()
		if err != nil {
			return fmt.Errorf("topology of %s: %w", n.Config.Name, err)
		}
		topos = append(topos, t)
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NODE\tSWITCH ID\tPORT\tINTERFACE\tKIND\tPOD\tIPS")
	for _, t := range topos {
		n := t.GetNode()
		for _, p := range append(append([]*podintv1.Probe{}, n.GetUplinks()...), t.GetPorts()...) {
			kind, pod, ips := "uplink", "-", "-"
			if p.GetKind() == podintv1.PortKind_PORT_KIND_POD {
				kind, pod = "pod", p.GetPod().GetNamespace()+"/"+p.GetPod().GetName()
				var as []string
				for _, ip := range p.GetPod().GetIps() {
					as = append(as, ip.GetAddress())
				}
				ips = strings.Join(as, ",")
			}
			fmt.Fprintf(tw, "%s\t%s\t%d\t%s\t%s\t%s\t%s\n", n.GetName(), n.GetSwitchIp(), p.GetIfindex(), p.GetHostInterface(), kind, pod, ips)
		}
	}
	tw.Flush()
	if dotPath == "" {
		return nil
	}
	if err := os.WriteFile(dotPath, []byte(clusterDOT(topos)), 0o644); err != nil {
		return fmt.Errorf("write topology: %w", err)
	}
	fmt.Fprintf(w, "topology written to %s", dotPath)
	if _, err := exec.LookPath("dot"); err == nil {
		png := strings.TrimSuffix(dotPath, ".dot") + ".png"
		if out, err := exec.Command("dot", "-Tpng", "-o", png, dotPath).CombinedOutput(); err == nil {
			fmt.Fprintf(w, " and %s", png)
		} else {
			fmt.Fprintf(w, " (dot -Tpng failed: %v: %s)", err, out)
		}
	} else {
		fmt.Fprint(w, " (install graphviz for a PNG)")
	}
	fmt.Fprintln(w)
	return nil
}

// clusterDOT draws every node as an INT switch with its ports, the pods on
// them, and the fabric joining the uplinks.
func clusterDOT(topos []*podintv1.TopologyResponse) string {
	var b strings.Builder
	b.WriteString("graph podint {\n  rankdir=LR;\n  node [fontname=\"Helvetica\"];\n  fabric [shape=ellipse, label=\"fabric\"];\n")
	for _, t := range topos {
		n := t.GetNode()
		sw := "switch_" + n.GetName()
		fmt.Fprintf(&b, "  %s [shape=box3d, label=\"%s\\nswitch id %s\"];\n", sw, n.GetName(), n.GetSwitchIp())
		for _, u := range n.GetUplinks() {
			fmt.Fprintf(&b, "  %s -- fabric [label=\"port %d (%s)\"];\n", sw, u.GetIfindex(), u.GetHostInterface())
		}
		for _, p := range t.GetPorts() {
			id := fmt.Sprintf("pod_%s_%d", n.GetName(), p.GetIfindex())
			var ips []string
			for _, ip := range p.GetPod().GetIps() {
				ips = append(ips, ip.GetAddress())
			}
			fmt.Fprintf(&b, "  %s [shape=component, label=\"%s/%s\\n%s\"];\n", id, p.GetPod().GetNamespace(),
				p.GetPod().GetName(), strings.Join(ips, "\\n"))
			fmt.Fprintf(&b, "  %s -- %s [label=\"port %d (%s)\"];\n", sw, id, p.GetIfindex(), p.GetHostInterface())
		}
	}
	b.WriteString("}\n")
	return b.String()
}
