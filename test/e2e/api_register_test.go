package e2e

import (
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	podintv1 "github.com/podint/podint/proto/podint/v1"
	"github.com/podint/podint/test/harness"
)

// Malformed requests are rejected with InvalidArgument and a message that
// says what is wrong; nothing is stored.
func TestMalformedRegistrationsAreRejected(t *testing.T) {
	n := startNode(t, harness.NodeConfig{})
	ctx := testContext(t)
	c, closeFn, err := n.Client()
	if err != nil {
		t.Fatal(err)
	}
	defer closeFn()
	for _, p := range []*podintv1.Probe{
		nil,
		{Kind: podintv1.PortKind_PORT_KIND_POD, Pod: &podintv1.Pod{ContainerId: "c", Interface: "eth0"}},
		{Ifindex: 1, Kind: podintv1.PortKind_PORT_KIND_POD, Pod: &podintv1.Pod{Interface: "eth0"}},
		{Ifindex: 1, Pod: &podintv1.Pod{ContainerId: "c", Interface: "eth0"}},
		{Ifindex: 999999, Kind: podintv1.PortKind_PORT_KIND_POD, Pod: &podintv1.Pod{ContainerId: "c", Interface: "eth0", Netns: "/nonexistent"}},
	} {
		_, err := c.Register(ctx, &podintv1.RegisterRequest{Probe: p})
		if status.Code(err) != codes.InvalidArgument || status.Convert(err).Message() == "" {
			t.Errorf("Register(%v): %v, want InvalidArgument with a reason", p, err)
		}
	}
	if ps := listProbes(t, ctx, c); len(ps) != 0 {
		t.Errorf("rejected registrations were stored: %v", ps)
	}
	if _, err := c.Unregister(ctx, &podintv1.UnregisterRequest{}); status.Code(err) != codes.InvalidArgument {
		t.Errorf("Unregister without ids: %v, want InvalidArgument", err)
	}
}
