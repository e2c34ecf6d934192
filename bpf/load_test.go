package bpf

import (
	"testing"

	"github.com/podint/podint/internal/bpffs"
)

func TestLoadPinsProgramsAndMaps(t *testing.T) {
	p := loadForTest(t)
	for _, d := range Directions {
		if ok, err := bpffs.Is(ProgramPath(p.pinDir, d)); err != nil || !ok {
			t.Fatalf("program %s not pinned on bpffs: %v", d, err)
		}
	}
	if _, err := p.Counters(); err != nil {
		t.Fatal(err)
	}
	if CounterNames[CounterRingbufFull] != "ringbuf_full" {
		t.Fatalf("counter names not read from BTF: %v", CounterNames)
	}
}
