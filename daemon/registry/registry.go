// Package registry keeps what a node daemon knows of its node: the node as
// an INT switch, and its ports (pod veths and uplinks) with the pods behind
// them. Registrations are persisted in the state directory so a restarted
// daemon knows its probes again.
package registry

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"sync"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	"github.com/podint/podint/bpf/pins"
	podintv1 "github.com/podint/podint/proto/podint/v1"
)

// Store holds the node's probes. It is safe for concurrent use.
type Store struct {
	dir string // where registrations are persisted; "" keeps them in memory

	mu      sync.RWMutex
	node    *podintv1.Node
	probes  map[string]*podintv1.Probe // by probe id
	changed chan struct{}              // closed and replaced at every change
}

// NewStore returns a store persisting to dir (created if missing), with the
// registrations already saved there.
func NewStore(dir string, node *podintv1.Node) (*Store, error) {
	s := &Store{dir: dir, node: node, probes: map[string]*podintv1.Probe{}, changed: make(chan struct{})}
	if dir == "" {
		return s, nil
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("create state directory: %w", err)
	}
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("read state directory: %w", err)
	}
	for _, e := range ents {
		if filepath.Ext(e.Name()) != ".json" {
			continue
		}
		path := filepath.Join(dir, e.Name())
		b, err := os.ReadFile(path)
		if err != nil {
			return nil, fmt.Errorf("read registration: %w", err)
		}
		p := &podintv1.Probe{}
		if err := protojson.Unmarshal(b, p); err != nil {
			return nil, fmt.Errorf("registration %s is corrupt (remove it; the plugin re-registers on the next ADD): %w", path, err)
		}
		s.probes[ID(p)] = p
	}
	return s, nil
}

// ID is the probe's identity: its CNI attachment for a pod, its interface
// for an uplink. It is also the name of its pinned links.
func ID(p *podintv1.Probe) string {
	if p.GetKind() == podintv1.PortKind_PORT_KIND_UPLINK {
		return pins.UplinkProbeID(p.GetHostInterface())
	}
	return pins.ProbeID(p.GetPod().GetContainerId(), p.GetPod().GetInterface())
}

// Validate checks what a registration must hold.
func Validate(p *podintv1.Probe) error {
	switch {
	case p == nil:
		return errors.New("no probe given")
	case p.GetIfindex() == 0:
		return errors.New("probe has no ifindex")
	case p.GetKind() == podintv1.PortKind_PORT_KIND_POD && p.GetPod().GetContainerId() == "":
		return errors.New("pod probe has no container id")
	case p.GetKind() == podintv1.PortKind_PORT_KIND_POD && p.GetPod().GetInterface() == "":
		return errors.New("pod probe has no pod interface name")
	case p.GetKind() == podintv1.PortKind_PORT_KIND_UNSPECIFIED:
		return errors.New("probe has no port kind")
	}
	return nil
}

// Put adds or replaces a probe.
func (s *Store) Put(p *podintv1.Probe) error {
	if err := Validate(p); err != nil {
		return err
	}
	p = proto.Clone(p).(*podintv1.Probe)
	id := ID(p)
	if s.dir != "" && p.GetKind() == podintv1.PortKind_PORT_KIND_POD {
		if err := s.save(id, p); err != nil {
			return err
		}
	}
	s.mu.Lock()
	s.probes[id] = p
	s.notifyLocked()
	s.mu.Unlock()
	return nil
}

// Changed returns a channel that is closed at the next change of a probe.
func (s *Store) Changed() <-chan struct{} {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.changed
}

func (s *Store) notifyLocked() {
	close(s.changed)
	s.changed = make(chan struct{})
}

func (s *Store) save(id string, p *podintv1.Probe) error {
	b, err := protojson.Marshal(p)
	if err != nil {
		return fmt.Errorf("encode registration: %w", err)
	}
	path := filepath.Join(s.dir, id+".json")
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, b, 0o600); err != nil {
		return fmt.Errorf("save registration: %w", err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("save registration: %w", err)
	}
	return nil
}

// Delete removes the probe with id; it reports whether it was known.
func (s *Store) Delete(id string) (bool, error) {
	s.mu.Lock()
	_, ok := s.probes[id]
	delete(s.probes, id)
	if ok {
		s.notifyLocked()
	}
	s.mu.Unlock()
	if s.dir != "" {
		err := os.Remove(filepath.Join(s.dir, id+".json"))
		if err != nil && !errors.Is(err, os.ErrNotExist) {
			return ok, fmt.Errorf("remove registration: %w", err)
		}
	}
	return ok, nil
}

// Get returns the probe with id.
func (s *Store) Get(id string) (*podintv1.Probe, bool) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	p, ok := s.probes[id]
	return p, ok
}

// Probes returns every probe, ordered by ifindex.
func (s *Store) Probes() []*podintv1.Probe {
	s.mu.RLock()
	out := make([]*podintv1.Probe, 0, len(s.probes))
	for _, p := range s.probes {
		out = append(out, p)
	}
	s.mu.RUnlock()
	sort.Slice(out, func(i, j int) bool { return out[i].GetIfindex() < out[j].GetIfindex() })
	return out
}

// Topology returns the node and its pod ports.
func (s *Store) Topology() *podintv1.TopologyResponse {
	resp := &podintv1.TopologyResponse{Node: proto.Clone(s.node).(*podintv1.Node)}
	for _, p := range s.Probes() {
		switch p.GetKind() {
		case podintv1.PortKind_PORT_KIND_UPLINK:
			resp.Node.Uplinks = append(resp.Node.Uplinks, p)
		default:
			resp.Ports = append(resp.Ports, p)
		}
	}
	return resp
}
