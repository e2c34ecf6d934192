package harness

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net"
	"net/netip"
	"os"

	"github.com/containernetworking/cni/libcni"
	current "github.com/containernetworking/cni/pkg/types/100"
	"github.com/vishvananda/netlink"
)

// PodIfName is the pod's interface, as Kubernetes runtimes name it.
const PodIfName = "eth0"

// Pod is a network namespace wired into a node by the CNI chain.
type Pod struct {
	Name        string
	ContainerID string
	UID         string
	NS          *NetNS
	Result      *current.Result
	IP          netip.Addr // first address from the result
	IP6         netip.Addr // the IPv6 address, on a dual-stack node
	// CapabilityArgs are the runtime's capability arguments, e.g.
	// "portMappings" for portmap.
	CapabilityArgs map[string]any
	node           *Node
}

// conflist is the node's CNI configuration: bridge + host-local, the extra
// plugins, then podint; every path stays inside the node's instance root.
func (n *Node) conflist() []byte {
	ranges := [][]map[string]any{{{"subnet": n.Config.Subnet}}}
	routes := []map[string]any{{"dst": "0.0.0.0/0"}}
	if n.Config.Subnet6 != "" { // dual stack
		ranges = append(ranges, []map[string]any{{"subnet": n.Config.Subnet6}})
		routes = append(routes, map[string]any{"dst": "::/0"})
	}
	ipam := map[string]any{
		"type":    "host-local",
		"ranges":  ranges,
		"routes":  routes,
		"dataDir": n.IPAMDir(),
	}
	bridge := map[string]any{
		"type":      "bridge",
		"bridge":    n.BridgeName(),
		"isGateway": true,
		"ipMasq":    n.Config.IPMasq,
		"ipam":      ipam,
	}
	if n.Config.Primary == "ptp" {
		bridge = map[string]any{"type": "ptp", "ipMasq": n.Config.IPMasq, "ipam": ipam}
	}
	podint := map[string]any{"type": "podint", "root": n.Paths.Root}
	for k, v := range n.Config.PodintConf {
		podint[k] = v
	}
	plugins := []map[string]any{bridge}
	plugins = append(plugins, n.Config.ExtraPlugins...)
	plugins = append(plugins, podint)
	version := n.Config.CNIVersion
	if version == "" {
		version = "1.1.0"
	}
	b, _ := json.Marshal(map[string]any{
		"cniVersion": version,
		"name":       "podint-" + n.Config.Name,
		"plugins":    plugins,
	})
	return b
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// RuntimeConf is what a Kubernetes runtime passes for p.
func (p *Pod) RuntimeConf() *libcni.RuntimeConf {
	return &libcni.RuntimeConf{
		ContainerID: p.ContainerID,
		NetNS:       p.NS.Path,
		IfName:      PodIfName,
		Args: [][2]string{
			{"IgnoreUnknown", "1"},
			{"K8S_POD_NAMESPACE", "default"},
			{"K8S_POD_NAME", p.Name},
			{"K8S_POD_UID", p.UID},
			{"K8S_POD_INFRA_CONTAINER_ID", p.ContainerID},
		},
		CapabilityArgs: p.CapabilityArgs,
	}
}

// NewPod creates the pod's namespace without running CNI ADD.
func (n *Node) NewPod(name string) (*Pod, error) {
	ns, err := newNetNS(fmt.Sprintf("%s%d-%s-%s", Prefix, os.Getpid(), n.Config.Name, name))
	if err != nil {
		return nil, err
	}
	return &Pod{Name: name, ContainerID: randomHex(32), UID: randomHex(16), NS: ns, node: n}, nil
}

// AddPod creates a pod and runs the node's CNI chain ADD for it.
func (n *Node) AddPod(ctx context.Context, name string) (*Pod, error) {
	p, err := n.NewPod(name)
	if err != nil {
		return nil, err
	}
	if err := n.CNIAdd(ctx, p); err != nil {
		p.NS.Delete()
		return nil, err
	}
	return p, nil
}

// CNIAdd runs the chain's ADD for p, as a runtime would, inside the node.
func (n *Node) CNIAdd(ctx context.Context, p *Pod) error {
	var res *current.Result
	err := n.NS.Do(func() error {
		r, err := n.cni.AddNetworkList(ctx, n.ConfList, p.RuntimeConf())
		if err != nil {
			return err
		}
		res, err = current.NewResultFromResult(r)
		return err
	})
	if err != nil {
		return fmt.Errorf("CNI ADD %s: %w\nplugin stderr:\n%s", p.Name, err, n.PluginLog())
	}
	p.Result = res
	if len(res.IPs) > 0 {
		for _, ip := range res.IPs {
			if a, ok := netip.AddrFromSlice(ip.Address.IP); ok && ip.Address.IP.To4() == nil && !p.IP6.IsValid() {
				p.IP6 = a
			}
		}
		p.IP, _ = netip.AddrFromSlice(res.IPs[0].Address.IP.To4())
		if !p.IP.IsValid() {
			p.IP, _ = netip.AddrFromSlice(res.IPs[0].Address.IP)
		}
	}
	return nil
}

// CNIDel runs the chain's DEL for p inside the node.
func (n *Node) CNIDel(ctx context.Context, p *Pod) error {
	err := n.NS.Do(func() error { return n.cni.DelNetworkList(ctx, n.ConfList, p.RuntimeConf()) })
	if err != nil {
		return fmt.Errorf("CNI DEL %s: %w\nplugin stderr:\n%s", p.Name, err, n.PluginLog())
	}
	return nil
}

// CNICheck runs the chain's CHECK for p inside the node.
func (n *Node) CNICheck(ctx context.Context, p *Pod) error {
	return n.NS.Do(func() error { return n.cni.CheckNetworkList(ctx, n.ConfList, p.RuntimeConf()) })
}

// DelPod runs DEL and removes the pod's namespace.
func (n *Node) DelPod(ctx context.Context, p *Pod) error {
	err := n.CNIDel(ctx, p)
	if derr := p.NS.Delete(); err == nil {
		err = derr
	}
	return err
}

// HostVeth finds the pod's host-side veth in the node.
func (p *Pod) HostVeth() (netlink.Link, error) {
	var peer int
	err := p.NS.Do(func() error {
		l, err := netlink.LinkByName(PodIfName)
		if err != nil {
			return err
		}
		peer, err = netlink.VethPeerIndex(l.(*netlink.Veth))
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("pod %s veth: %w", p.Name, err)
	}
	var link netlink.Link
	err = p.node.NS.Do(func() (err error) { link, err = netlink.LinkByIndex(peer); return err })
	return link, err
}

// ListenTCP listens inside the pod.
func (p *Pod) ListenTCP(port int) (l net.Listener, err error) {
	err = p.NS.Do(func() error { l, err = net.Listen("tcp", netip.AddrPortFrom(p.IP, uint16(port)).String()); return err })
	return l, err
}

// DialTCP connects from inside the pod.
func (p *Pod) DialTCP(ctx context.Context, addr string) (c net.Conn, err error) {
	err = p.NS.Do(func() error { c, err = (&net.Dialer{}).DialContext(ctx, "tcp", addr); return err })
	return c, err
}

// ListenUDP opens a UDP socket inside the pod.
func (p *Pod) ListenUDP(port int) (c *net.UDPConn, err error) {
	err = p.NS.Do(func() error {
		c, err = net.ListenUDP("udp", net.UDPAddrFromAddrPort(netip.AddrPortFrom(p.IP, uint16(port))))
		return err
	})
	return c, err
}

// CNIDelPlugin runs DEL of one plugin of the chain (by type) for p, leaving
// the others' work in place: to see what that plugin alone undoes.
func (n *Node) CNIDelPlugin(ctx context.Context, p *Pod, pluginType string) error {
	for _, pl := range n.ConfList.Plugins {
		if pl.Network.Type != pluginType {
			continue
		}
		conf, err := libcni.InjectConf(pl, map[string]any{"name": n.ConfList.Name, "cniVersion": n.ConfList.CNIVersion})
		if err != nil {
			return err
		}
		return n.NS.Do(func() error { return n.cni.DelNetwork(ctx, conf, p.RuntimeConf()) })
	}
	return fmt.Errorf("no %s plugin in the conflist", pluginType)
}
