package harness

import (
	"encoding/json"
	"net/netip"
)

// RuntimePod is a pod a container runtime created on the node (its network
// namespace is the sandbox's, e.g. /proc/<pid>/ns/net): the harness's Pod
// helpers (HostVeth, ListenTCP, DialTCP) work on it; its namespace belongs
// to the runtime, so it is never deleted from here.
func (n *Node) RuntimePod(name, sandboxID, netnsPath string, ip netip.Addr) *Pod {
	return &Pod{Name: name, ContainerID: sandboxID, NS: &NetNS{Name: name, Path: netnsPath}, IP: ip, node: n}
}

// PrimaryConfList is the node's conflist without podint: the primary CNI's
// file, as a runtime finds it before podint is installed.
func (n *Node) PrimaryConfList() []byte {
	var conf map[string]any
	_ = json.Unmarshal(n.conflist(), &conf)
	var plugins []any
	for _, p := range conf["plugins"].([]any) {
		if p.(map[string]any)["type"] != "podint" {
			plugins = append(plugins, p)
		}
	}
	conf["plugins"] = plugins
	b, _ := json.MarshalIndent(conf, "", "  ")
	return append(b, '\n')
}
