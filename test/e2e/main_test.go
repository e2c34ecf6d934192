// Package e2e runs podint end to end on real simulated nodes: namespaces,
// real CNI plugins through libcni, real probes, a real daemon and real UDP.
package e2e

import (
	"fmt"
	"os"
	"testing"

	"github.com/podint/podint/test/harness"
	"github.com/podint/podint/test/tools"
)

// binDir holds the binaries built once for every test of the package.
var binDir string

func TestMain(m *testing.M) {
	if os.Geteuid() != 0 {
		fmt.Println("e2e: skipped: needs root (network namespaces, bpffs, TCX)")
		os.Exit(m.Run()) // every test skips by itself
	}
	if err := tools.Need(); err != nil {
		fmt.Fprintln(os.Stderr, "e2e:", err)
		os.Exit(1)
	}
	harness.RemoveLeftovers()
	dir, err := os.MkdirTemp("", "podint-e2e-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	if err := harness.Build(dir); err != nil {
		fmt.Fprintln(os.Stderr, "e2e: build binaries:", err)
		os.Exit(1)
	}
	binDir = dir
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

func requireRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root (network namespaces, bpffs, TCX)")
	}
}
