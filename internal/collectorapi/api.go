// Package collectorapi is podint-collector's query API as both sides see
// it: the JSON shapes of GET /api/v1/paths, /api/v1/drops and
// /api/v1/graph, the graph's renderings (Graphviz DOT, Grafana Node Graph
// frames) and the client podintctl uses.
package collectorapi

import "time"

// Endpoint is one end of a flow: a pod, when the collector knew it.
type Endpoint struct {
	Addr      string `json:"addr"` // ip:port
	Namespace string `json:"namespace,omitempty"`
	Pod       string `json:"pod,omitempty"`
	Node      string `json:"node,omitempty"`
}

// Name is namespace/pod, or the address when the pod is unknown.
func (e Endpoint) Name() string {
	if e.Pod == "" {
		return e.Addr
	}
	return e.Namespace + "/" + e.Pod
}

// Path is one flow's path in one interval.
type Path struct {
	Interval time.Time `json:"interval"`
	Proto    string    `json:"proto"`
	Src      Endpoint  `json:"src"`
	Dst      Endpoint  `json:"dst"`
	// Service is where the connection was addressed before a node DNATed
	// it (ClusterIP:port, node:nodePort); "" when none is known.
	Service   string `json:"service,omitempty"`
	Route     string `json:"route"` // "n1[3>2] -> n2[2>5]": node[ingress>egress] per hop
	Hops      int    `json:"hops"`
	LatencyNS int64  `json:"latency_ns"` // the hops' mean latencies summed
	Reports   int64  `json:"reports"`
	Drops     int64  `json:"drops"`
}

// Drop is where and why packets of a flow died, in one interval.
type Drop struct {
	Interval    time.Time `json:"interval"`
	Proto       string    `json:"proto"`
	Src         Endpoint  `json:"src"`
	Dst         Endpoint  `json:"dst"`
	Node        string    `json:"node"`
	SwitchIP    string    `json:"switch_ip"`
	IngressPort int64     `json:"ingress_port"`
	Reason      int       `json:"reason"`
	ReasonName  string    `json:"reason_name"`
	Count       int64     `json:"count"`
}

// PathQuery selects paths.
type PathQuery struct {
	Since        time.Duration // how far back; default 5m
	SrcNamespace string
	DstNamespace string
	Limit        int // default 20
}

// DropQuery selects drops of a pod (either end), or all.
type DropQuery struct {
	Since     time.Duration
	Namespace string
	Pod       string
	Limit     int
}
