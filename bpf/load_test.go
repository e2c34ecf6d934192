package bpf

import (
	"testing"

	"github.com/podint/podint/internal/bpffs"

	"github.com/podint/podint/bpf/pins"
)

func TestLoadPinsProgramsAndMaps(t *testing.T) {
	p := loadForTest(t)
	for _, d := range pins.HostHooks() {
		if ok, err := bpffs.Is(pins.ProgramPath(p.pinDir, d)); err != nil || !ok {
			t.Fatalf("program %s not pinned on bpffs: %v", d, err)
		}
	}
	if _, err := p.Counters(); err != nil {
		t.Fatal(err)
	}
	if CounterNames()[CounterRingbufFull] != "ringbuf_full" {
		t.Fatalf("counter names not read from BTF: %v", CounterNames())
	}
}
