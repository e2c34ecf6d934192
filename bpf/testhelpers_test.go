package bpf

import (
	"testing"

	"github.com/podint/podint/internal/bpftest"
)

func requireRoot(t *testing.T) { bpftest.RequireRoot(t) }

func loadForTest(t *testing.T) *Collection {
	t.Helper()
	requireRoot(t)
	p, err := Load(bpftest.TempPinDir(t), DefaultSettings)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	return p
}
