// Package topology renders a node's topology, as the daemon's API returns
// it, for people and other tools: Graphviz DOT, a DeepInsight topology
// document and int-host-reporter's JSON shape. The daemon (its HTTP
// endpoint) and podintctl share it.
package topology
