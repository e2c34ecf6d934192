package translations

import (
	"runtime"
	"testing"

	"github.com/podint/podint/bpf"
	"github.com/podint/podint/internal/intreport"
)

// BenchmarkObserve is the cost on the report path: a report of a known
// translated connection (a refresh), and of an untranslated flow (no work
// unless it is new).
func BenchmarkObserve(b *testing.B) {
	b.Run("refresh", func(b *testing.B) {
		tb := New(0, 0)
		ev := &bpf.Event{Type: bpf.EventFlow, CtDir: bpf.CtOriginal, PreNat: key("10.22.1.2", 40000, "10.96.0.10", 80)}
		f := flowOf("10.22.1.2", 40000, "10.22.1.3", 8080)
		for b.Loop() {
			tb.Observe(ev, f)
		}
	})
	b.Run("untranslated", func(b *testing.B) {
		tb := New(0, 0)
		request(tb, 1, "10.96.0.10", "10.22.1.3")
		ev := &bpf.Event{Type: bpf.EventFlow, CtDir: bpf.CtOriginal, PreNat: key("10.22.1.2", 40000, "10.22.1.3", 8080)}
		f := flowOf("10.22.1.2", 40000, "10.22.1.3", 8080)
		for b.Loop() {
			tb.Observe(ev, f)
		}
	})
}

// BenchmarkFullTable is the memory of a full table (DefaultMax
// connections), reported per connection.
func BenchmarkFullTable(b *testing.B) {
	for b.Loop() {
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		tb := New(0, 0)
		for i := range DefaultMax {
			f := flowOf("10.22.1.2", uint16(i), "10.22.1.3", 8080)
			f.Src = f.Src.Next()
			if i >= 1<<16 {
				f.Proto = intreport.ProtoUDP
			}
			tb.Observe(&bpf.Event{Type: bpf.EventFlow, CtDir: bpf.CtOriginal,
				PreNat: key(f.Src.String(), uint16(i), "10.96.0.10", 80)}, f)
		}
		runtime.GC()
		runtime.ReadMemStats(&after)
		b.ReportMetric(float64(after.HeapAlloc-before.HeapAlloc)/float64(tb.Len()), "bytes/conn")
		runtime.KeepAlive(tb)
	}
}
