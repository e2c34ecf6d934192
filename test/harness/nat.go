package harness

import (
	"context"
	"fmt"
	"net"
	"net/netip"
)

// ServiceMark is the mark kube-proxy's KUBE-MARK-MASQ sets on packets it
// wants masqueraded on their way out (a pod reaching itself through its
// Service: without the SNAT its reply would never be un-DNATed).
const ServiceMark = 0x4000

// ServiceNAT is one translation kube-proxy installs for a Service: packets
// to Frontend (a ClusterIP:port, or the node's address:nodePort) are DNATed
// to Backend (a pod's address:targetPort).
type ServiceNAT struct {
	Frontend netip.AddrPort
	Backend  netip.AddrPort
	Proto    string // "tcp" (default) or "udp"
}

func (s ServiceNAT) proto() string {
	if s.Proto == "" {
		return "tcp"
	}
	return s.Proto
}

// NATTool is how the rules are written: kube-proxy's nftables mode, or its
// iptables mode (here iptables-legacy, so that both of the kernel's NAT
// front ends are exercised: x_tables and nf_tables).
type NATTool string

const (
	NATNftables NATTool = "nftables"
	NATIptables NATTool = "iptables"
)

// AddServiceNAT installs kube-proxy-style DNAT rules for services inside
// the node: in prerouting (pod and uplink traffic) and output (the node's
// own), with a masquerade in postrouting for hairpin traffic. They vanish
// with the node's namespace.
func (n *Node) AddServiceNAT(tool NATTool, services ...ServiceNAT) error {
	var cmds [][]string
	switch tool {
	case NATNftables:
		cmds = [][]string{
			{"nft", "add", "table", "ip", "podint-svc"},
			{"nft", "add", "chain", "ip", "podint-svc", "services"},
			{"nft", "add", "chain", "ip", "podint-svc", "prerouting", "{ type nat hook prerouting priority dstnat; }"},
			{"nft", "add", "chain", "ip", "podint-svc", "output", "{ type nat hook output priority -100; }"},
			{"nft", "add", "chain", "ip", "podint-svc", "postrouting", "{ type nat hook postrouting priority srcnat; }"},
			{"nft", "add", "rule", "ip", "podint-svc", "prerouting", "jump", "services"},
			{"nft", "add", "rule", "ip", "podint-svc", "output", "jump", "services"},
			{"nft", "add", "rule", "ip", "podint-svc", "postrouting", "meta", "mark", "&", fmt.Sprint(ServiceMark), "!=", "0", "masquerade"},
		}
		for _, s := range services {
			match := []string{"nft", "add", "rule", "ip", "podint-svc", "services",
				"ip", "daddr", s.Frontend.Addr().String(), s.proto(), "dport", fmt.Sprint(s.Frontend.Port())}
			cmds = append(cmds,
				append(append([]string{}, match...), "ip", "saddr", s.Backend.Addr().String(),
					"meta", "mark", "set", "mark", "or", fmt.Sprint(ServiceMark)),
				append(append([]string{}, match...), "dnat", "to", s.Backend.String()))
		}
	case NATIptables:
		ipt := func(args ...string) []string { return append([]string{"iptables-legacy", "-w", "-t", "nat"}, args...) }
		mark := fmt.Sprintf("%#x/%#x", ServiceMark, ServiceMark)
		cmds = [][]string{
			ipt("-N", "PODINT-SVC"),
			ipt("-A", "PREROUTING", "-j", "PODINT-SVC"),
			ipt("-A", "OUTPUT", "-j", "PODINT-SVC"),
			ipt("-A", "POSTROUTING", "-m", "mark", "--mark", mark, "-j", "MASQUERADE"),
		}
		for _, s := range services {
			match := []string{"-A", "PODINT-SVC", "-d", s.Frontend.Addr().String(), "-p", s.proto(), "--dport", fmt.Sprint(s.Frontend.Port())}
			cmds = append(cmds,
				ipt(append(append([]string{}, match...), "-s", s.Backend.Addr().String(), "-j", "MARK", "--set-xmark", mark)...),
				ipt(append(append([]string{}, match...), "-j", "DNAT", "--to-destination", s.Backend.String())...))
		}
	default:
		return fmt.Errorf("NAT tool %q: want %q or %q", tool, NATNftables, NATIptables)
	}
	return n.NS.Do(func() error { return runAll(cmds) })
}

// FabricAddr is the fabric bridge's address: an "outside" host every node
// reaches through its uplink, and that has no route to any pod.
func FabricAddr() netip.Addr { return netip.MustParseAddr(fabricNet + ".254") }

// ListenTCP listens on addr inside the namespace.
func (n *NetNS) ListenTCP(addr netip.AddrPort) (l net.Listener, err error) {
	err = n.Do(func() error { l, err = net.Listen("tcp", addr.String()); return err })
	return l, err
}

// DialTCP connects to addr from inside the namespace.
func (n *NetNS) DialTCP(ctx context.Context, addr netip.AddrPort) (c net.Conn, err error) {
	err = n.Do(func() error { c, err = (&net.Dialer{}).DialContext(ctx, "tcp", addr.String()); return err })
	return c, err
}
