package harness

import (
	"context"
	"fmt"
	"path/filepath"

	"github.com/containernetworking/cni/libcni"
	"github.com/containernetworking/cni/pkg/types"
)

// IPAMDir is where host-local keeps the node's address reservations.
func (n *Node) IPAMDir() string { return filepath.Join(n.Paths.Root, "var/lib/cni/networks") }

// CNICacheDir is where libcni caches the results of ADD for the node.
func (n *Node) CNICacheDir() string { return filepath.Join(n.Paths.Root, "var/lib/cni/cache") }

// UseCNIVersion rebuilds the node's conflist in spec version v, for tests
// that run the chain in every version.
func (n *Node) UseCNIVersion(v string) error {
	n.Config.CNIVersion = v
	l, err := libcni.ConfListFromBytes(n.conflist())
	if err != nil {
		return fmt.Errorf("conflist in version %s: %w", v, err)
	}
	n.ConfList = l
	return nil
}

// Attachment is the pod's CNI attachment, as GC's valid list names it.
func (p *Pod) Attachment() types.GCAttachment {
	return types.GCAttachment{ContainerID: p.ContainerID, IfName: PodIfName}
}

// CNIGC runs the chain's GC inside the node, as a runtime that still holds
// the valid attachments would.
func (n *Node) CNIGC(ctx context.Context, valid []types.GCAttachment) error {
	return n.NS.Do(func() error {
		return n.cni.GCNetworkList(ctx, n.ConfList, &libcni.GCArgs{ValidAttachments: valid})
	})
}

// CNIStatus runs the chain's STATUS inside the node.
func (n *Node) CNIStatus(ctx context.Context) error {
	return n.NS.Do(func() error { return n.cni.GetStatusNetworkList(ctx, n.ConfList) })
}
