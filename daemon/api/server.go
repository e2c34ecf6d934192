// Package api serves the podint gRPC API on the daemon's unix socket, and
// on the same socket the CNI plugin's registration protocol (registration.go).
package api

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"github.com/podint/podint/daemon/registry"
	"github.com/podint/podint/daemon/reports"
	podintv1 "github.com/podint/podint/proto/podint/v1"
)

// Hooks are what the server needs from the rest of the daemon.
type Hooks struct {
	// Verify checks a pod probe against the node (its veth, its pod) and may
	// complete it (the pod interface's MAC). Its error is shown to the client.
	Verify func(*podintv1.Probe) error
	// Registered is called after a probe is stored.
	Registered func(*podintv1.Probe)
	// Unregistered is called after a probe is forgotten; p is nil when the
	// probe was not known.
	Unregistered func(id string, p *podintv1.Probe)
	// Stats returns every counter of the pipeline.
	Stats func() []*podintv1.Counter
	// Health says whether the pipeline works, and what is wrong.
	Health func() *podintv1.HealthResponse
}

// Server implements the Podint service.
type Server struct {
	podintv1.UnimplementedPodintServer
	store   *registry.Store
	reports *reports.Hub
	hooks   Hooks
	log     *slog.Logger
	done    chan struct{} // closed when serving stops: ends the streams
}

// NewServer returns a service backed by store, streaming reports from hub.
func NewServer(store *registry.Store, hub *reports.Hub, hooks Hooks, log *slog.Logger) *Server {
	return &Server{store: store, reports: hub, hooks: hooks, log: log, done: make(chan struct{})}
}

func (s *Server) Register(_ context.Context, req *podintv1.RegisterRequest) (*podintv1.RegisterResponse, error) {
	p := proto.Clone(req.GetProbe()).(*podintv1.Probe)
	if err := registry.Validate(p); err != nil {
		return nil, status.Errorf(codes.InvalidArgument, "register: %v", err)
	}
	if p.GetKind() != podintv1.PortKind_PORT_KIND_POD {
		return nil, status.Errorf(codes.InvalidArgument,
			"register: kind %s: only pod probes are registered; uplinks are podintd's own (see --uplink)", p.GetKind())
	}
	if s.hooks.Verify != nil {
		if err := s.hooks.Verify(p); err != nil {
			return nil, status.Errorf(codes.InvalidArgument, "register %s: %v", registry.ID(p), err)
		}
	}
	p.RegisteredUnixNano = time.Now().UnixNano()
	if err := s.store.Put(p); err != nil {
		return nil, status.Errorf(codes.Internal, "register: %v", err)
	}
	s.log.Info("probe registered", "probe", registry.ID(p), "ifindex", p.GetIfindex(),
		"interface", p.GetHostInterface(), "pod", p.GetPod().GetNamespace()+"/"+p.GetPod().GetName())
	if s.hooks.Registered != nil {
		s.hooks.Registered(p)
	}
	return &podintv1.RegisterResponse{}, nil
}

func (s *Server) Unregister(_ context.Context, req *podintv1.UnregisterRequest) (*podintv1.UnregisterResponse, error) {
	if req.GetContainerId() == "" || req.GetPodInterface() == "" {
		return nil, status.Error(codes.InvalidArgument, "unregister: container_id and pod_interface are required")
	}
	id := registry.ID(&podintv1.Probe{Kind: podintv1.PortKind_PORT_KIND_POD,
		Pod: &podintv1.Pod{ContainerId: req.GetContainerId(), Interface: req.GetPodInterface()}})
	p, _ := s.store.Get(id)
	found, err := s.store.Delete(id)
	if err != nil {
		return nil, status.Errorf(codes.Internal, "unregister: %v", err)
	}
	if found {
		s.log.Info("probe unregistered", "probe", id)
	}
	if s.hooks.Unregistered != nil {
		s.hooks.Unregistered(id, p)
	}
	return &podintv1.UnregisterResponse{Found: found}, nil
}

func (s *Server) ListProbes(context.Context, *podintv1.ListProbesRequest) (*podintv1.ListProbesResponse, error) {
	return &podintv1.ListProbesResponse{Probes: s.store.Probes()}, nil
}

func (s *Server) Topology(context.Context, *podintv1.TopologyRequest) (*podintv1.TopologyResponse, error) {
	return s.store.Topology(), nil
}

// WatchTopology sends the topology now and after every change. Changes
// that come in a burst may be sent as one.
func (s *Server) WatchTopology(_ *podintv1.TopologyRequest, stream grpc.ServerStreamingServer[podintv1.TopologyResponse]) error {
	for {
		changed := s.store.Changed() // before reading, so no change is missed
		if err := stream.Send(s.store.Topology()); err != nil {
			return err
		}
		select {
		case <-changed:
		case <-stream.Context().Done():
			return nil
		case <-s.done:
			return status.Error(codes.Unavailable, "podintd is stopping")
		}
	}
}

// Reports streams the reports the daemon sends, as it sends them. A client
// that does not keep up misses reports (never slowing the daemon); the next
// report it gets says how many in skipped_before.
func (s *Server) Reports(req *podintv1.ReportsRequest, stream grpc.ServerStreamingServer[podintv1.ReportEvent]) error {
	var f reports.Filter
	if req.GetIp() != "" {
		ip, err := netip.ParseAddr(req.GetIp())
		if err != nil {
			return status.Errorf(codes.InvalidArgument, "reports: ip %q is not an IP address", req.GetIp())
		}
		f.IP = ip.Unmap()
	}
	f.DropsOnly = req.GetDropsOnly()
	sub := s.reports.Subscribe(f)
	defer sub.Close()
	for {
		select {
		case ev := <-sub.C():
			if n := sub.TakeSkipped(); n > 0 {
				ev = proto.Clone(ev).(*podintv1.ReportEvent) // events are shared between subscribers
				ev.SkippedBefore = n
			}
			if err := stream.Send(ev); err != nil {
				return err
			}
		case <-stream.Context().Done():
			return nil
		case <-s.done:
			return status.Error(codes.Unavailable, "podintd is stopping")
		}
	}
}

func (s *Server) Stats(context.Context, *podintv1.StatsRequest) (*podintv1.StatsResponse, error) {
	if s.hooks.Stats == nil {
		return &podintv1.StatsResponse{}, nil
	}
	return &podintv1.StatsResponse{Counters: s.hooks.Stats()}, nil
}

func (s *Server) Health(context.Context, *podintv1.HealthRequest) (*podintv1.HealthResponse, error) {
	if s.hooks.Health == nil {
		return &podintv1.HealthResponse{Ok: true}, nil
	}
	return s.hooks.Health(), nil
}

// stopWait bounds how long unary calls in flight may finish at shutdown.
const stopWait = 5 * time.Second

// Serve runs the gRPC server on l until ctx ends; then it ends the streams
// and lets calls in flight finish.
func Serve(ctx context.Context, l net.Listener, srv *Server) error {
	g := grpc.NewServer(accessOptions()...)
	podintv1.RegisterPodintServer(g, srv)
	stop := context.AfterFunc(ctx, func() {
		close(srv.done)
		t := time.AfterFunc(stopWait, g.Stop)
		g.GracefulStop()
		t.Stop()
	})
	defer stop()
	if err := g.Serve(newSplitListener(l, srv.serveRegistration)); err != nil && !errors.Is(err, grpc.ErrServerStopped) {
		return fmt.Errorf("serve API: %w", err)
	}
	return nil
}
