package harness

import (
	"context"
	"fmt"

	"github.com/containernetworking/cni/libcni"
)

// CNIAddPlugin runs ADD of one plugin of the chain (by type) for p, with
// the pod's earlier result as prevResult: to run podint again after
// something (a CNI datapath's programs) was put on the pod's veth.
func (n *Node) CNIAddPlugin(ctx context.Context, p *Pod, pluginType string) error {
	if p.Result == nil {
		return fmt.Errorf("pod %s has no result to chain from: ADD it first", p.Name)
	}
	for _, pl := range n.ConfList.Plugins {
		if pl.Network.Type != pluginType {
			continue
		}
		conf, err := libcni.InjectConf(pl, map[string]any{"name": n.ConfList.Name, "cniVersion": n.ConfList.CNIVersion,
			"prevResult": p.Result})
		if err != nil {
			return err
		}
		err = n.NS.Do(func() error { _, err := n.cni.AddNetwork(ctx, conf, p.RuntimeConf()); return err })
		if err != nil {
			return fmt.Errorf("CNI ADD %s of %s: %w\nplugin stderr:\n%s", pluginType, p.Name, err, n.PluginLog())
		}
		return nil
	}
	return fmt.Errorf("no %s plugin in the conflist", pluginType)
}
