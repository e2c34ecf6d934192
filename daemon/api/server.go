// Package api serves the podint gRPC API on the daemon's unix socket.
package api

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/podint/podint/daemon/topology"
	podintv1 "github.com/podint/podint/proto/podint/v1"
)

// Hooks are what the server needs from the rest of the daemon.
type Hooks struct {
	// Registered is called after a probe is stored.
	Registered func(*podintv1.Probe)
	// Unregistered is called after a probe is forgotten.
	Unregistered func(*podintv1.Probe)
	// Stats returns every counter of the pipeline.
	Stats func() []*podintv1.Counter
}

// Server implements the Podint service.
type Server struct {
	podintv1.UnimplementedPodintServer
	store *topology.Store
	hooks Hooks
	log   *slog.Logger
}

// NewServer returns a service backed by store.
func NewServer(store *topology.Store, hooks Hooks, log *slog.Logger) *Server {
	return &Server{store: store, hooks: hooks, log: log}
}

func (s *Server) Register(_ context.Context, req *podintv1.RegisterRequest) (*podintv1.RegisterResponse, error) {
	p := req.GetProbe()
	if err := topology.Validate(p); err != nil {
		return nil, status.Errorf(codes.InvalidArgument, "register: %v", err)
	}
	p.RegisteredUnixNano = time.Now().UnixNano()
	if err := s.store.Put(p); err != nil {
		return nil, status.Errorf(codes.Internal, "register: %v", err)
	}
	s.log.Info("probe registered", "probe", topology.ID(p), "ifindex", p.GetIfindex(),
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
	id := topology.ID(&podintv1.Probe{Kind: podintv1.PortKind_PORT_KIND_POD,
		Pod: &podintv1.Pod{ContainerId: req.GetContainerId(), Interface: req.GetPodInterface()}})
	p, _ := s.store.Get(id)
	found, err := s.store.Delete(id)
	if err != nil {
		return nil, status.Errorf(codes.Internal, "unregister: %v", err)
	}
	if found {
		s.log.Info("probe unregistered", "probe", id)
		if s.hooks.Unregistered != nil && p != nil {
			s.hooks.Unregistered(p)
		}
	}
	return &podintv1.UnregisterResponse{Found: found}, nil
}

func (s *Server) ListProbes(context.Context, *podintv1.ListProbesRequest) (*podintv1.ListProbesResponse, error) {
	return &podintv1.ListProbesResponse{Probes: s.store.Probes()}, nil
}

func (s *Server) Topology(context.Context, *podintv1.TopologyRequest) (*podintv1.TopologyResponse, error) {
	return s.store.Topology(), nil
}

func (s *Server) Stats(context.Context, *podintv1.StatsRequest) (*podintv1.StatsResponse, error) {
	if s.hooks.Stats == nil {
		return &podintv1.StatsResponse{}, nil
	}
	return &podintv1.StatsResponse{Counters: s.hooks.Stats()}, nil
}

// Listen opens the unix socket at path with mode 0600, replacing a stale
// socket left by a daemon that did not exit cleanly.
func Listen(path string) (net.Listener, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("create socket directory: %w", err)
	}
	if c, err := net.DialTimeout("unix", path, 200*time.Millisecond); err == nil {
		c.Close()
		return nil, fmt.Errorf("another podintd is serving %s; stop it or use another --root", path)
	}
	if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("remove stale socket %s: %w", path, err)
	}
	l, err := net.Listen("unix", path)
	if err != nil {
		return nil, fmt.Errorf("listen on %s: %w", path, err)
	}
	if err := os.Chmod(path, 0o600); err != nil {
		l.Close()
		return nil, fmt.Errorf("restrict socket %s: %w", path, err)
	}
	return l, nil
}

// Serve runs the gRPC server on l until ctx ends.
func Serve(ctx context.Context, l net.Listener, srv *Server) error {
	g := grpc.NewServer()
	podintv1.RegisterPodintServer(g, srv)
	stop := context.AfterFunc(ctx, g.GracefulStop)
	defer stop()
	if err := g.Serve(l); err != nil && !errors.Is(err, grpc.ErrServerStopped) {
		return fmt.Errorf("serve API: %w", err)
	}
	return nil
}
