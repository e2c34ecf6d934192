package collectorapi

import (
	"fmt"
	"sort"
	"strings"
)

// Graph is the topology the paths draw: nodes are pods and switches
// (podint nodes, INT switches), edges are what flowed between them with
// the latency of the hop they lead into.
type Graph struct {
	Nodes []GraphNode `json:"nodes"`
	Edges []GraphEdge `json:"edges"`
}

// GraphNode is a pod or a switch.
type GraphNode struct {
	ID       string `json:"id"`
	Title    string `json:"title"`
	SubTitle string `json:"subtitle"`
	Kind     string `json:"kind"` // "pod", "switch", "service" or "address"
}

// GraphEdge is traffic from one node of the graph to the next.
type GraphEdge struct {
	ID        string `json:"id"`
	Source    string `json:"source"`
	Target    string `json:"target"`
	Reports   int64  `json:"reports"`
	LatencyNS int64  `json:"latency_ns"` // mean hop latency of the switch the edge enters or leaves
}

// DOT renders the graph for Graphviz.
func (g Graph) DOT() string {
	var b strings.Builder
	b.WriteString("digraph podint {\n  rankdir=LR;\n")
	for _, n := range g.Nodes {
		shape := "box"
		switch n.Kind {
		case "pod":
			shape = "ellipse"
		case "service":
			shape = "hexagon"
		}
		fmt.Fprintf(&b, "  %q [label=%q, shape=%s];\n", n.ID, n.Title+"\n"+n.SubTitle, shape)
	}
	for _, e := range g.Edges {
		fmt.Fprintf(&b, "  %q -> %q [label=%q];\n", e.Source, e.Target, fmt.Sprintf("%.1fµs, %d reports", float64(e.LatencyNS)/1000, e.Reports))
	}
	b.WriteString("}\n")
	return b.String()
}

// Frame is a data frame as Grafana reads it from a JSON data source: one
// array of fields, each with a name and its values.
type Frame struct {
	Name   string       `json:"name"`
	Fields []FrameField `json:"fields"`
}

// FrameField is one column of a frame.
type FrameField struct {
	Name   string `json:"name"`
	Type   string `json:"type"` // "string" or "number"
	Values []any  `json:"values"`
}

// NodeGraphFrames renders the graph as the two frames Grafana's Node Graph
// panel reads: "nodes" (id, title, subtitle) and "edges" (id, source,
// target, mainstat = latency in µs, secondarystat = reports).
func (g Graph) NodeGraphFrames() []Frame {
	nodes := Frame{Name: "nodes", Fields: []FrameField{
		{Name: "id", Type: "string"}, {Name: "title", Type: "string"}, {Name: "subtitle", Type: "string"}}}
	for _, n := range g.Nodes {
		nodes.Fields[0].Values = append(nodes.Fields[0].Values, n.ID)
		nodes.Fields[1].Values = append(nodes.Fields[1].Values, n.Title)
		nodes.Fields[2].Values = append(nodes.Fields[2].Values, n.SubTitle)
	}
	edges := Frame{Name: "edges", Fields: []FrameField{
		{Name: "id", Type: "string"}, {Name: "source", Type: "string"}, {Name: "target", Type: "string"},
		{Name: "mainstat", Type: "number"}, {Name: "secondarystat", Type: "number"}}}
	for _, e := range g.Edges {
		edges.Fields[0].Values = append(edges.Fields[0].Values, e.ID)
		edges.Fields[1].Values = append(edges.Fields[1].Values, e.Source)
		edges.Fields[2].Values = append(edges.Fields[2].Values, e.Target)
		edges.Fields[3].Values = append(edges.Fields[3].Values, float64(e.LatencyNS)/1000)
		edges.Fields[4].Values = append(edges.Fields[4].Values, e.Reports)
	}
	return []Frame{nodes, edges}
}

// GraphBuilder accumulates paths' hop chains into a graph.
type GraphBuilder struct {
	nodes map[string]GraphNode
	edges map[[2]string]*edgeSum
}

type edgeSum struct {
	reports, latencySum, n int64
}

// NewGraphBuilder returns an empty builder.
func NewGraphBuilder() *GraphBuilder {
	return &GraphBuilder{nodes: map[string]GraphNode{}, edges: map[[2]string]*edgeSum{}}
}

// Hop is one switch of a path, in order, for AddPath.
type Hop struct {
	Switch    string // node name or switch address
	Reports   int64
	LatencyNS int64 // mean
}

// AddPath adds the chain src -> hops... -> dst. A path sent to a Service
// (service, ip:port; "" none) goes through a service node before its first
// switch, the one that translated it; a path from the Service's address
// (a reply the node un-DNATed) starts at that node.
func (b *GraphBuilder) AddPath(src, dst Endpoint, service string, hops []Hop) {
	var ids []string
	if service != "" && src.Pod == "" && src.Addr == service {
		ids = []string{b.service(service)}
		service = ""
	} else {
		ids = []string{b.endpoint(src)}
	}
	lat := []int64{}
	rep := []int64{}
	for _, h := range hops {
		id := "switch:" + h.Switch
		if _, ok := b.nodes[id]; !ok {
			b.nodes[id] = GraphNode{ID: id, Title: h.Switch, SubTitle: "switch", Kind: "switch"}
		}
		if ids[len(ids)-1] == id {
			continue // two hop rows of one switch (a drop row and a flow row)
		}
		ids = append(ids, id)
		lat = append(lat, h.LatencyNS)
		rep = append(rep, h.Reports)
	}
	ids = append(ids, b.endpoint(dst))
	if len(lat) == 0 {
		return
	}
	if service != "" { // both edges around the Service carry its switch's figures
		ids = append([]string{ids[0], b.service(service)}, ids[1:]...)
		lat = append([]int64{lat[0]}, lat...)
		rep = append([]int64{rep[0]}, rep...)
	}
	for i := 0; i+1 < len(ids); i++ {
		// An edge carries the latency of the switch it enters (the last
		// edge: of the switch it leaves).
		j := min(i, len(lat)-1)
		k := [2]string{ids[i], ids[i+1]}
		e := b.edges[k]
		if e == nil {
			e = &edgeSum{}
			b.edges[k] = e
		}
		e.reports += rep[j]
		e.latencySum += lat[j]
		e.n++
	}
}

func (b *GraphBuilder) service(addr string) string {
	id := "svc:" + addr
	b.nodes[id] = GraphNode{ID: id, Title: addr, SubTitle: "service", Kind: "service"}
	return id
}

func (b *GraphBuilder) endpoint(e Endpoint) string {
	if e.Pod == "" {
		id := "addr:" + strings.Split(e.Addr, ":")[0]
		b.nodes[id] = GraphNode{ID: id, Title: id[len("addr:"):], SubTitle: "unknown pod", Kind: "address"}
		return id
	}
	id := "pod:" + e.Namespace + "/" + e.Pod
	b.nodes[id] = GraphNode{ID: id, Title: e.Pod, SubTitle: e.Namespace + " on " + e.Node, Kind: "pod"}
	return id
}

// Graph returns the graph, sorted for stable output.
func (b *GraphBuilder) Graph() Graph {
	g := Graph{Nodes: []GraphNode{}, Edges: []GraphEdge{}}
	for _, n := range b.nodes {
		g.Nodes = append(g.Nodes, n)
	}
	sort.Slice(g.Nodes, func(i, j int) bool { return g.Nodes[i].ID < g.Nodes[j].ID })
	for k, e := range b.edges {
		g.Edges = append(g.Edges, GraphEdge{ID: k[0] + "->" + k[1], Source: k[0], Target: k[1], Reports: e.reports, LatencyNS: e.latencySum / max(e.n, 1)})
	}
	sort.Slice(g.Edges, func(i, j int) bool { return g.Edges[i].ID < g.Edges[j].ID })
	return g
}
