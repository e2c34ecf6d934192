// Package redirect is a test fixture: the datapath of an eBPF CNI with BPF
// host routing (Cilium's, in miniature; c/datapath.c), which moves packets
// between pods, the uplink and the overlay with bpf_redirect_peer,
// bpf_redirect_neigh and bpf_redirect, past the host veths' egress. The
// end-to-end tests run podint on it. It is never part of podint.
package redirect

import (
	"errors"
	"fmt"
	"net"
	"net/netip"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/link"
)

// EgressMode is how packets from pods that are not for a local pod leave.
type EgressMode uint32

const (
	EgressStack    = EgressMode(datapathEgressModeEGRESS_STACK)    // the host stack routes them
	EgressNeigh    = EgressMode(datapathEgressModeEGRESS_NEIGH)    // bpf_redirect_neigh
	EgressRedirect = EgressMode(datapathEgressModeEGRESS_REDIRECT) // bpf_redirect, MACs from the FIB
)

// Delivery is how packets for a local pod get there.
type Delivery uint32

const (
	// DeliverPeer moves them into the pod with bpf_redirect_peer, as BPF
	// host routing does: the host veth's egress is bypassed.
	DeliverPeer = Delivery(datapathDeliveryDELIVER_PEER)
	// DeliverEgress redirects them to the pod's host veth egress, as
	// legacy host routing's local delivery does.
	DeliverEgress = Delivery(datapathDeliveryDELIVER_EGRESS)
)

// SetDelivery chooses how packets for local pods are delivered.
func (d *Datapath) SetDelivery(m Delivery) error {
	return d.objs.DeliveryMode.Put(uint32(0), uint32(m))
}

// Stats count what the datapath did with the packets it saw.
type Stats struct {
	Egress    uint64 // redirected to a pod's host veth egress
	Peer      uint64 // moved into a pod with bpf_redirect_peer
	Neigh     uint64 // sent out with bpf_redirect_neigh
	Redirect  uint64 // sent out with bpf_redirect
	Continued uint64 // IPv4 packets left to the kernel
}

// Datapath is the loaded fixture and the hooks it holds. It must be used
// from inside the node's network namespace: ifindexes are the node's.
type Datapath struct {
	objs  datapathObjects
	links []link.Link
}

// Load loads the fixture's programs and maps (nothing is pinned).
func Load() (*Datapath, error) {
	d := &Datapath{}
	if err := loadDatapathObjects(&d.objs, nil); err != nil {
		return nil, fmt.Errorf("load redirect datapath: %w", err)
	}
	return d, nil
}

// Anchor of a hook among the programs already there.
type Anchor bool

const (
	Head Anchor = true  // before every program already attached
	Tail Anchor = false // after them
)

func (a Anchor) link() link.Anchor {
	if a == Head {
		return link.Head()
	}
	return link.Tail()
}

// AttachPod hooks from_container to a pod's host veth TCX ingress.
func (d *Datapath) AttachPod(hostIfindex int, at Anchor) error {
	return d.attach(d.objs.FromContainer, hostIfindex, at)
}

// AttachNetdev hooks from_netdev to an uplink's or overlay device's TCX
// ingress.
func (d *Datapath) AttachNetdev(ifindex int, at Anchor) error {
	return d.attach(d.objs.FromNetdev, ifindex, at)
}

func (d *Datapath) attach(prog *ebpf.Program, ifindex int, at Anchor) error {
	l, err := link.AttachTCX(link.TCXOptions{Interface: ifindex, Program: prog, Attach: ebpf.AttachTCXIngress, Anchor: at.link()})
	if err != nil {
		return fmt.Errorf("attach %s to ifindex %d: %w", prog, ifindex, err)
	}
	d.links = append(d.links, l)
	return nil
}

// AddEndpoint makes a local pod reachable by bpf_redirect_peer: packets for
// ip get dst podMAC and src hostMAC and enter the peer of hostIfindex.
func (d *Datapath) AddEndpoint(ip netip.Addr, hostIfindex int, podMAC, hostMAC net.HardwareAddr) error {
	if !ip.Is4() {
		return fmt.Errorf("endpoint %s: the fixture routes IPv4 only", ip)
	}
	var ep datapathEndpoint
	ep.HostIfindex = uint32(hostIfindex)
	copy(ep.PodMac[:], podMAC)
	copy(ep.HostMac[:], hostMAC)
	key := ip.As4() // network byte order, as the packet holds it
	if err := d.objs.Endpoints.Put(key, &ep); err != nil {
		return fmt.Errorf("add endpoint %s: %w", ip, err)
	}
	return nil
}

// SetEgress chooses how packets leaving the node are sent.
func (d *Datapath) SetEgress(m EgressMode) error {
	return d.objs.Egress.Put(uint32(0), uint32(m))
}

// Stats reads the fixture's counters.
func (d *Datapath) Stats() (Stats, error) {
	var v [datapathStatSTAT_MAX]uint64
	for i := range v {
		if err := d.objs.Stats.Lookup(uint32(i), &v[i]); err != nil {
			return Stats{}, fmt.Errorf("read stat %d: %w", i, err)
		}
	}
	return Stats{Egress: v[datapathStatSTAT_EGRESS], Peer: v[datapathStatSTAT_PEER], Neigh: v[datapathStatSTAT_NEIGH],
		Redirect: v[datapathStatSTAT_REDIRECT], Continued: v[datapathStatSTAT_CONTINUED]}, nil
}

// Close detaches every hook and unloads the fixture.
func (d *Datapath) Close() error {
	var errs []error
	for _, l := range d.links {
		errs = append(errs, l.Close())
	}
	return errors.Join(append(errs, d.objs.Close())...)
}

// ProgramIDs are the ids of the fixture's programs, to tell them among the
// programs on a hook.
func (d *Datapath) ProgramIDs() (fromContainer, fromNetdev ebpf.ProgramID, err error) {
	for _, p := range []struct {
		prog *ebpf.Program
		id   *ebpf.ProgramID
	}{{d.objs.FromContainer, &fromContainer}, {d.objs.FromNetdev, &fromNetdev}} {
		info, err := p.prog.Info()
		if err != nil {
			return 0, 0, fmt.Errorf("program info: %w", err)
		}
		id, _ := info.ID()
		*p.id = id
	}
	return fromContainer, fromNetdev, nil
}
