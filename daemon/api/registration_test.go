package api

import (
	"bytes"
	"context"
	"log/slog"
	"net"
	"path/filepath"
	"testing"
	"time"

	"github.com/podint/podint/daemon/registry"
	"github.com/podint/podint/daemon/reports"
	"github.com/podint/podint/internal/apiclient"
	"github.com/podint/podint/internal/registration"
	podintv1 "github.com/podint/podint/proto/podint/v1"
)

// serveSocket serves a server of an empty store on a unix socket of the
// test's own until the test ends, and returns the socket's path.
func serveSocket(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	store, err := registry.NewStore(filepath.Join(dir, "state"), &podintv1.Node{})
	if err != nil {
		t.Fatal(err)
	}
	srv := NewServer(store, reports.NewHub(1), Hooks{}, slog.New(slog.DiscardHandler))
	sock := filepath.Join(dir, "podint.sock")
	l, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- Serve(ctx, l, srv) }()
	t.Cleanup(func() { cancel(); <-served })
	return sock
}

// One socket serves both: the plugin's registration protocol and gRPC
// clients see the same probes.
func TestRegistrationAndGRPCShareTheSocket(t *testing.T) {
	sock := serveSocket(t)
	ctx := context.Background()

	deadline := time.Now().Add(10 * time.Second)
	c, err := registration.Dial(sock, deadline)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	p := &registration.Probe{Ifindex: 9, HostInterface: "veth9", Kind: registration.KindPod,
		Pod: &registration.Pod{ContainerID: "c1", Interface: "eth0", IPs: []registration.PodIP{{Address: "10.1.0.2/16"}}}}
	if err := c.Register(p); err != nil {
		t.Fatalf("register: %v", err)
	}
	// A refused registration comes back with its code, not as unreachable.
	err = c.Register(&registration.Probe{Kind: registration.KindPod, Pod: &registration.Pod{ContainerID: "c2", Interface: "eth0"}})
	if e, ok := err.(*registration.Error); !ok || e.Code != "InvalidArgument" || registration.Unreachable(err) {
		t.Fatalf("register without ifindex: %v, want an InvalidArgument answer", err)
	}

	grpcClient, closeFn, err := apiclient.Dial(sock)
	if err != nil {
		t.Fatal(err)
	}
	defer closeFn()
	gctx, gcancel := context.WithDeadline(ctx, deadline)
	defer gcancel()
	resp, err := grpcClient.ListProbes(gctx, &podintv1.ListProbesRequest{})
	if err != nil {
		t.Fatalf("gRPC on the same socket: %v", err)
	}
	if ps := resp.GetProbes(); len(ps) != 1 || ps[0].GetHostInterface() != "veth9" || ps[0].GetPod().GetIps()[0].GetAddress() != "10.1.0.2/16" {
		t.Fatalf("gRPC lists %v, want the registered veth9", ps)
	}

	listed, err := c.ListProbes()
	if err != nil || len(listed) != 1 || listed[0].Ifindex != 9 || listed[0].RegisteredUnixNano == 0 {
		t.Fatalf("registration protocol lists %+v (%v)", listed, err)
	}
	if err := c.Unregister("c1", "eth0"); err != nil {
		t.Fatal(err)
	}
	if listed, _ := c.ListProbes(); len(listed) != 0 {
		t.Fatalf("after unregister: %+v", listed)
	}
}

// A registration line past maxRequestLine ends its connection: the daemon
// does not buffer whatever a client sends, and serves the next plugin.
func TestOverlongRegistrationLineEndsTheConnection(t *testing.T) {
	sock := serveSocket(t)

	raw, err := net.Dial("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	raw.SetDeadline(time.Now().Add(30 * time.Second))
	long := append([]byte(`{"method":"`), bytes.Repeat([]byte("x"), maxRequestLine+1)...)
	go raw.Write(append(long, '\n')) // the daemon stops reading midway
	if n, err := raw.Read(make([]byte, 1)); err == nil {
		t.Fatalf("an overlong line got %d bytes of answer, want the connection closed", n)
	}

	c, err := registration.Dial(sock, time.Now().Add(10*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.ListProbes(); err != nil {
		t.Fatalf("the next plugin: %v", err)
	}
}
