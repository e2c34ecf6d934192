package topology

import (
	"fmt"
	"io"
	"strconv"
	"strings"

	podintv1 "github.com/podint/podint/proto/podint/v1"
)

// WriteDOT draws t as a Graphviz graph: the node as a switch, a box per
// pod and per uplink network, edges labelled with the INT port ids.
func WriteDOT(w io.Writer, t *podintv1.TopologyResponse) error {
	n := t.GetNode()
	var b strings.Builder
	b.WriteString("graph podint {\n  rankdir=LR;\n  node [fontname=\"Helvetica\"];\n")
	sw := "switch"
	fmt.Fprintf(&b, "  %s [shape=box3d, label=%s];\n", sw,
		dotQuote(fmt.Sprintf("%s\nswitch id %s (%d)", n.GetName(), n.GetSwitchIp(), n.GetSwitchId())))
	for _, u := range n.GetUplinks() {
		id := "uplink_" + strconv.Itoa(int(u.GetIfindex()))
		fmt.Fprintf(&b, "  %s [shape=ellipse, label=%s];\n", id,
			dotQuote(u.GetHostInterface()+"\n"+strings.Join(u.GetAddresses(), "\n")))
		fmt.Fprintf(&b, "  %s -- %s [label=%s];\n", sw, id, dotQuote("port "+strconv.Itoa(int(u.GetIfindex()))))
	}
	if cpu := n.GetCpuPort(); cpu != 0 { // the node's own stack, as an INT switch's CPU port
		fmt.Fprintf(&b, "  cpu [shape=ellipse, style=dashed, label=%s];\n", dotQuote("node's own stack\n(kubelet, host network)"))
		fmt.Fprintf(&b, "  %s -- cpu [label=%s];\n", sw, dotQuote(fmt.Sprintf("port %d\nCPU port", cpu)))
	}
	for _, p := range t.GetPorts() {
		pod := p.GetPod()
		id := "port_" + strconv.Itoa(int(p.GetIfindex()))
		label := []string{pod.GetNamespace() + "/" + pod.GetName()}
		for _, ip := range pod.GetIps() {
			label = append(label, ip.GetAddress())
		}
		fmt.Fprintf(&b, "  %s [shape=box, style=rounded, label=%s];\n", id, dotQuote(strings.Join(label, "\n")))
		fmt.Fprintf(&b, "  %s -- %s [label=%s];\n", sw, id,
			dotQuote(fmt.Sprintf("port %d\n%s", p.GetIfindex(), p.GetHostInterface())))
	}
	b.WriteString("}\n")
	_, err := io.WriteString(w, b.String())
	return err
}

// dotQuote quotes s as a DOT string; newlines become line breaks.
func dotQuote(s string) string {
	s = strings.ReplaceAll(s, `\`, `\\`)
	s = strings.ReplaceAll(s, `"`, `\"`)
	s = strings.ReplaceAll(s, "\n", `\n`)
	return `"` + s + `"`
}
