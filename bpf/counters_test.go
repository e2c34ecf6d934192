package bpf

import "testing"

// Every counter of enum counter has its help text, so operators never see
// an unexplained loss counter.
func TestEveryCounterIsExplained(t *testing.T) {
	for _, n := range CounterNames() {
		if CounterHelp[n] == "" {
			t.Errorf("counter %q has no help text in CounterHelp", n)
		}
	}
}
