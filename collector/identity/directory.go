// Package identity owns podint-collector's answer to "which pod is this
// address": every node's podintd knows its pods (from the CNI ADDs it
// registered) and serves them at GET /api/v1/topology; the collector learns
// the nodes from the switch ids of their reports, polls each node, and
// keeps, per IP, the history of its owners with the time each was seen
// first and last, so an address that changes owner is never attributed to
// the pod that had it before.
package identity

import (
	"net/netip"
	"sync"
	"time"

	"github.com/podint/podint/internal/topology"
)

// Pod is the identity of a pod.
type Pod struct {
	Namespace, Name, UID, Node string
}

// Known reports whether p names a pod.
func (p Pod) Known() bool { return p.UID != "" || p.Name != "" }

// PortKind says what a port of a node is.
type PortKind uint8

const (
	PortUnknown PortKind = iota
	PortPod              // a pod's host veth
	PortUplink           // the node's interface towards the fabric
	PortCPU              // the node's own stack (port id 1)
)

// historyLimit bounds the owners remembered per address.
const historyLimit = 4

// ownership is one pod's tenure of an address: from since (the poll that
// first saw it) to until (the poll that no longer did; zero while it lasts).
type ownership struct {
	pod          Pod
	since, until time.Time
}

type portKey struct {
	switchID uint32
	ifindex  uint32
}

type node struct {
	name     string
	lastPoll time.Time             // when the node's last topology was read
	addrs    map[netip.Addr]string // address -> pod UID as of the last poll
}

// Directory maps addresses and ports to pods. Safe for concurrent use.
type Directory struct {
	mu     sync.RWMutex
	owners map[netip.Addr][]ownership
	ports  map[portKey]PortKind
	nodes  map[uint32]*node
	// truncated marks addresses whose oldest owners were forgotten.
	truncated map[netip.Addr]bool
	// Grace is how long before its first poll an address's first known
	// owner is taken to own it: the poll interval.
	Grace time.Duration
	// NAT holds the connections the nodes saw NATed, polled with their
	// topology.
	NAT *Translations
}

// NewDirectory returns an empty directory.
func NewDirectory() *Directory {
	return &Directory{owners: map[netip.Addr][]ownership{}, ports: map[portKey]PortKind{}, nodes: map[uint32]*node{},
		truncated: map[netip.Addr]bool{}, Grace: DefaultPollInterval, NAT: NewTranslations()}
}

// Apply replaces what node switchID said before with t, as read at at.
// Addresses the node no longer lists, or lists for another pod, end their
// owner's tenure at the previous read, the last time it was known to own
// them: what arrives between the two reads is attributed to no pod rather
// than possibly to the wrong one.
func (d *Directory) Apply(switchID uint32, t topology.HostReporterTopology, at time.Time) {
	current := map[netip.Addr]Pod{}
	ports := map[portKey]PortKind{}
	for _, l := range t.Links {
		k := portKey{switchID, l.ID}
		if l.Kind == "uplink" || l.IsNodeIface {
			ports[k] = PortUplink
			continue
		}
		if l.Kind == topology.LinkKindCPU {
			ports[k] = PortCPU
			continue
		}
		ports[k] = PortPod
		pod := Pod{Namespace: l.PodNamespace, Name: l.PodName, UID: l.PodUID, Node: t.Node.Name}
		if pod.UID == "" { // a UID tells reuse apart; without one, the name must
			pod.UID = pod.Namespace + "/" + pod.Name
		}
		for _, s := range l.PodIPs {
			if a, err := netip.ParseAddr(s); err == nil {
				current[a.Unmap()] = pod
			}
		}
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	n := d.nodes[switchID]
	if n == nil {
		n = &node{addrs: map[netip.Addr]string{}}
		d.nodes[switchID] = n
	}
	n.name = t.Node.Name
	ended := n.lastPoll
	if ended.IsZero() {
		ended = at
	}
	n.lastPoll = at
	for a, uid := range n.addrs {
		if p, ok := current[a]; !ok || p.UID != uid {
			d.end(a, uid, ended)
			delete(n.addrs, a)
		}
	}
	for a, p := range current {
		if _, ok := n.addrs[a]; ok {
			continue
		}
		n.addrs[a] = p.UID
		h := append(d.owners[a], ownership{pod: p, since: at})
		if len(h) > historyLimit {
			h = h[len(h)-historyLimit:]
			d.truncated[a] = true
		}
		d.owners[a] = h
	}
	for k := range d.ports {
		if k.switchID == switchID {
			if _, ok := ports[k]; !ok {
				delete(d.ports, k)
			}
		}
	}
	for k, v := range ports {
		d.ports[k] = v
	}
}

func (d *Directory) end(a netip.Addr, uid string, at time.Time) {
	h := d.owners[a]
	for i := range h {
		if h[i].pod.UID == uid && h[i].until.IsZero() {
			h[i].until = at
		}
	}
}

// PodAt returns the pod that owned a at time at: the newest tenure that
// had begun by then and had not ended. A report can arrive before the poll
// that shows its new pod: the first owner the directory ever knew of an
// address is also taken for times up to Grace before its tenure began
// (there is no earlier owner it could belong to), never a later owner.
func (d *Directory) PodAt(a netip.Addr, at time.Time) (Pod, bool) {
	d.mu.RLock()
	defer d.mu.RUnlock()
	h := d.owners[a.Unmap()]
	for i := len(h) - 1; i >= 0; i-- {
		o := h[i]
		if !o.since.After(at) && (o.until.IsZero() || at.Before(o.until)) {
			return o.pod, true
		}
	}
	if len(h) > 0 && !d.truncated[a.Unmap()] && h[0].since.Sub(at) <= d.Grace && (h[0].until.IsZero() || at.Before(h[0].until)) {
		return h[0].pod, true
	}
	return Pod{}, false
}

// PortKind says what port ifindex of node switchID is, as last polled.
func (d *Directory) PortKind(switchID, ifindex uint32) PortKind {
	d.mu.RLock()
	defer d.mu.RUnlock()
	return d.ports[portKey{switchID, ifindex}]
}

// NodeName is the name node switchID gave, "" before its first poll.
func (d *Directory) NodeName(switchID uint32) string {
	d.mu.RLock()
	defer d.mu.RUnlock()
	if n := d.nodes[switchID]; n != nil {
		return n.name
	}
	return ""
}
