package demo

import (
	"context"
	"fmt"
	"io"
	"os/exec"

	"github.com/podint/podint/test/harness"
)

// pod is a demo pod and the node it lives on.
type pod struct {
	*harness.Pod
	node *harness.Node
}

// demoPods are the pods of the demo: a client and a server on node 1, a
// database on node 2 (reached across the overlay).
type demoPods struct {
	client, web, db *pod
}

func (d *demoPods) all() []*pod { return []*pod{d.client, d.web, d.db} }

func addPods(ctx context.Context, c *harness.Cluster, w io.Writer) (*demoPods, error) {
	var d demoPods
	for _, s := range []struct {
		p    **pod
		node int
		name string
	}{{&d.client, 0, "client"}, {&d.web, 0, "web"}, {&d.db, 1, "db"}} {
		n := c.Nodes[s.node]
		p, err := n.AddPod(ctx, s.name)
		if err != nil {
			return nil, err
		}
		*s.p = &pod{Pod: p, node: n}
		veth, _ := p.HostVeth()
		fmt.Fprintf(w, "pod default/%s on %s: %s %s, host veth %s (port %d)\n", s.name, n.Config.Name,
			p.IP, p.IP6, veth.Attrs().Name, veth.Attrs().Index)
	}
	return &d, nil
}

// addFaults makes real drops happen on node 1: an nftables rule denying UDP
// to the database's port 6666, and no route to 10.200.0.0/16 (a "throw"
// route ends the lookup there, in spite of the default route).
func addFaults(c *harness.Cluster, d *demoPods) error {
	n1 := c.Nodes[0]
	rules := fmt.Sprintf(`table inet podint_demo {
	chain forward {
		type filter hook forward priority 0;
		ip daddr %s udp dport 6666 drop
	}
}
`, d.db.IP)
	return n1.NS.Do(func() error {
		cmd := exec.Command("nft", "-f", "-")
		cmd.Stdin = stringReader(rules)
		if out, err := cmd.CombinedOutput(); err != nil {
			return fmt.Errorf("nft: %v: %s", err, out)
		}
		if out, err := exec.Command("ip", "route", "add", "throw", "10.200.0.0/16").CombinedOutput(); err != nil {
			return fmt.Errorf("ip route add throw: %v: %s", err, out)
		}
		return nil
	})
}
