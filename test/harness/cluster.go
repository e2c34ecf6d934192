package harness

import (
	"errors"
	"fmt"
	"net/netip"
	"os"
)

// Fabric addressing: node i (from 1) has uplink address 192.168.50.i on its
// eth0, the fabric's bridge is 192.168.50.254, the overlay (VXLAN VNI 42 on
// port 4789) uses 10.99.0.i, and node i's pods live in 10.22.i.0/24.
const (
	UplinkName  = "eth0"
	fabricNet   = "192.168.50"
	overlayName = "vxlan0"
)

// ClusterConfig describes several nodes joined through a fabric namespace.
type ClusterConfig struct {
	BinDir  string
	Nodes   int  // default 2
	Overlay bool // route pod subnets over VXLAN instead of the underlay
	// DualStack gives pods IPv6 addresses too (fd00:22:i::/64), routed like
	// IPv4 (underlay fd00:50::i, overlay fd00:99::i).
	DualStack bool
	// Node is applied to every node's config (Name, Subnet and SwitchID are
	// set by the cluster).
	Node NodeConfig
}

// Cluster is a set of simulated nodes whose uplinks meet on one bridge in
// a fabric namespace, with routes (or a VXLAN overlay) between pod subnets.
type Cluster struct {
	Config ClusterConfig
	Fabric *NetNS
	Nodes  []*Node
}

// NodeUplinkAddr is node i's (from 1) uplink address, its switch id.
func NodeUplinkAddr(i int) netip.Addr { return netip.MustParseAddr(fmt.Sprintf("%s.%d", fabricNet, i)) }

// NodeSubnet is node i's pod subnet.
func NodeSubnet(i int) string { return fmt.Sprintf("10.22.%d.0/24", i) }

// NodeSubnet6 is node i's IPv6 pod subnet (dual stack).
func NodeSubnet6(i int) string { return fmt.Sprintf("fd00:22:%d::/64", i) }

// NewCluster builds the fabric and the nodes (daemons not started).
func NewCluster(cfg ClusterConfig) (c *Cluster, err error) {
	if cfg.Nodes == 0 {
		cfg.Nodes = 2
	}
	c = &Cluster{Config: cfg}
	defer func() {
		if err != nil {
			c.Close()
		}
	}()
	if c.Fabric, err = newNetNS(fmt.Sprintf("%s%d-fabric", Prefix, os.Getpid())); err != nil {
		return nil, err
	}
	if err := c.Fabric.Do(func() error {
		return runAll([][]string{
			{"ip", "link", "add", "fabric0", "type", "bridge"},
			{"ip", "addr", "add", fabricNet + ".254/24", "dev", "fabric0"},
			{"ip", "link", "set", "fabric0", "up"},
		})
	}); err != nil {
		return nil, err
	}
	for i := 1; i <= cfg.Nodes; i++ {
		nc := cfg.Node
		nc.Name = fmt.Sprintf("n%d", i)
		nc.BinDir = cfg.BinDir
		nc.Subnet = NodeSubnet(i)
		if cfg.DualStack {
			nc.Subnet6 = NodeSubnet6(i)
		}
		nc.SwitchID = ""
		n, err := NewNode(nc)
		if err != nil {
			return nil, err
		}
		c.Nodes = append(c.Nodes, n)
		if err := c.wireUplink(i, n); err != nil {
			return nil, err
		}
	}
	for i, n := range c.Nodes {
		if err := c.routePods(i+1, n); err != nil {
			return nil, err
		}
	}
	return c, nil
}

// wireUplink gives node i an uplink into the fabric bridge and a default
// route through it.
func (c *Cluster) wireUplink(i int, n *Node) error {
	port := fmt.Sprintf("%s-n%d", "fab", i)
	if err := c.Fabric.Do(func() error {
		return runAll([][]string{
			{"ip", "link", "add", port, "type", "veth", "peer", "name", UplinkName, "netns", n.NS.Name},
			{"ip", "link", "set", port, "master", "fabric0"},
			{"ip", "link", "set", port, "up"},
		})
	}); err != nil {
		return err
	}
	return n.NS.Do(func() error {
		return runAll([][]string{
			{"ip", "addr", "add", fmt.Sprintf("%s/24", NodeUplinkAddr(i)), "dev", UplinkName},
			{"ip", "link", "set", UplinkName, "up"},
			{"ip", "route", "add", "default", "via", fabricNet + ".254"},
			{"sysctl", "-qw", "net.ipv4.ip_forward=1"},
			{"sysctl", "-qw", "net.ipv6.conf.all.forwarding=1"},
			{"ip", "-6", "addr", "add", fmt.Sprintf("fd00:50::%d/64", i), "dev", UplinkName, "nodad"},
		})
	})
}

// routePods routes the other nodes' pod subnets: through their uplink
// address, or through the VXLAN overlay.
func (c *Cluster) routePods(i int, n *Node) error {
	return n.NS.Do(func() error {
		var cmds [][]string
		if c.Config.Overlay {
			cmds = append(cmds,
				[]string{"ip", "link", "add", overlayName, "type", "vxlan", "id", "42", "dstport", "4789",
					"local", NodeUplinkAddr(i).String(), "dev", UplinkName, "nolearning"},
				[]string{"ip", "addr", "add", fmt.Sprintf("10.99.0.%d/24", i), "dev", overlayName},
				[]string{"ip", "-6", "addr", "add", fmt.Sprintf("fd00:99::%d/64", i), "dev", overlayName, "nodad"},
				[]string{"ip", "link", "set", overlayName, "up"})
		}
		for j := 1; j <= c.Config.Nodes; j++ {
			if j == i {
				continue
			}
			if c.Config.Overlay {
				cmds = append(cmds,
					[]string{"bridge", "fdb", "append", "00:00:00:00:00:00", "dev", overlayName, "dst", NodeUplinkAddr(j).String()},
					[]string{"ip", "route", "add", NodeSubnet(j), "via", fmt.Sprintf("10.99.0.%d", j), "dev", overlayName})
				if c.Config.DualStack {
					cmds = append(cmds, []string{"ip", "-6", "route", "add", NodeSubnet6(j), "via", fmt.Sprintf("fd00:99::%d", j), "dev", overlayName})
				}
			} else {
				cmds = append(cmds, []string{"ip", "route", "add", NodeSubnet(j), "via", NodeUplinkAddr(j).String()})
				if c.Config.DualStack {
					cmds = append(cmds, []string{"ip", "-6", "route", "add", NodeSubnet6(j), "via", fmt.Sprintf("fd00:50::%d", j)})
				}
			}
		}
		return runAll(cmds)
	})
}

// Close removes every node and the fabric.
func (c *Cluster) Close() error {
	var errs []error
	for _, n := range c.Nodes {
		errs = append(errs, n.Close())
	}
	if c.Fabric != nil {
		errs = append(errs, c.Fabric.Delete())
	}
	return errors.Join(errs...)
}

func runAll(cmds [][]string) error {
	for _, c := range cmds {
		if err := run(c[0], c[1:]...); err != nil {
			return err
		}
	}
	return nil
}
