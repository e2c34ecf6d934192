package e2e

import (
	"context"
	"testing"
	"time"

	"github.com/podint/podint/test/harness"
)

// testNode is a node with a collector and a running daemon, removed when
// the test ends, with the daemon's and plugins' logs shown on failure.
type testNode struct {
	*harness.Node
	Collector *harness.Collector
}

func startNode(t *testing.T, cfg harness.NodeConfig) *testNode {
	t.Helper()
	if cfg.SwitchID == "" {
		cfg.SwitchID = "10.0.0.1"
	}
	n := newIdleNode(t, cfg)
	col, err := harness.NewCollector(n.NS)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { col.Close() })
	n.Config.Collectors = append(n.Config.Collectors, col.Addr())
	if err := n.StartDaemon(testContext(t)); err != nil {
		t.Fatal(err)
	}
	return &testNode{Node: n, Collector: col}
}

func testContext(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	return ctx
}

func addPod(t *testing.T, n *harness.Node, name string) *harness.Pod {
	t.Helper()
	p, err := n.AddPod(testContext(t), name)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { n.DelPod(context.Background(), p) })
	return p
}
