package e2e

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/podint/podint/internal/bpffs"
	"github.com/podint/podint/test/harness"
)

// newBareNode is a node whose daemon the test starts (or fails to start).
func newBareNode(t *testing.T, cfg harness.NodeConfig) *harness.Node {
	t.Helper()
	if cfg.Name == "" {
		cfg.Name = "f1"
	}
	if cfg.SwitchID == "" {
		cfg.SwitchID = "10.0.0.1"
	}
	return newIdleNode(t, cfg)
}

// A read-only bpffs cannot hold the probes' pins: podintd must say so and
// exit, not hang.
func TestDaemonRefusesReadOnlyBPFFSClearly(t *testing.T) {
	n := newBareNode(t, harness.NodeConfig{BPFFS: "ro"})
	err := n.StartDaemon(testContext(t))
	if err == nil {
		t.Fatal("podintd started on a read-only bpffs")
	}
	if msg := err.Error(); !strings.Contains(msg, "exited during start") || !strings.Contains(msg, n.Paths.PinDir) {
		t.Fatalf("want an exit naming the pin directory %s, got: %v", n.Paths.PinDir, err)
	}
}

// Without a bpffs, podintd mounts one on its pin directory and runs.
func TestDaemonMountsAMissingBPFFS(t *testing.T) {
	n := newBareNode(t, harness.NodeConfig{BPFFS: "none"})
	if err := n.StartDaemon(testContext(t)); err != nil {
		t.Fatal(err)
	}
	if ok, err := bpffs.Is(n.Paths.PinDir); err != nil || !ok {
		t.Fatalf("pin directory %s is not a bpffs after start (err %v)", n.Paths.PinDir, err)
	}
}

// A socket directory that cannot be created is a clear start error.
func TestDaemonRefusesUnusableSocketDirClearly(t *testing.T) {
	n := newBareNode(t, harness.NodeConfig{})
	// A file where the socket's directory should be.
	if err := os.MkdirAll(filepath.Dir(filepath.Dir(n.Paths.Socket)), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Dir(n.Paths.Socket), []byte("not a directory"), 0o600); err != nil {
		t.Fatal(err)
	}
	err := n.StartDaemon(testContext(t))
	if err == nil {
		t.Fatal("podintd started without a socket directory")
	}
	if msg := err.Error(); !strings.Contains(msg, "exited during start") || !strings.Contains(msg, "socket") {
		t.Fatalf("want an exit about the socket directory, got: %v", err)
	}
}
