package metrics

import (
	"net/netip"
	"os"
	"regexp"
	"testing"
	"time"

	"github.com/podint/podint/collector/identity"
	"github.com/podint/podint/collector/receive"
	"github.com/podint/podint/collector/store"
	"github.com/podint/podint/internal/intreport"
)

// Every metric the Grafana dashboard's Prometheus queries name exists.
func TestDashboardNamesExistingMetrics(t *testing.T) {
	b, err := os.ReadFile("../../deployments/grafana/podint-collector.json")
	if err != nil {
		t.Fatal(err)
	}
	sources := receive.NewSources()
	m := New(Source{Sources: sources, PathOverflow: func() uint64 { return 0 }, PollErrors: func() uint64 { return 0 }})
	m.SetQueue(store.NewQueue(nil, 1, nil))
	rcv, err := receive.Listen(receive.Config{Listen: "127.0.0.1:0", Readers: 1}, func(netip.AddrPort, time.Time, *intreport.Datagram) {}, sources)
	if err != nil {
		t.Fatal(err)
	}
	defer rcv.Close()
	rcv.Handle(intreport.AppendV05(nil, &intreport.Report{Kind: intreport.KindFlow}, 1, 1, 64), netip.MustParseAddrPort("192.168.50.1:5000"), time.Now())
	r := &intreport.Decoded{Report: intreport.Report{Kind: intreport.KindFlow, EgressTS: 10}}
	m.Report(r, identity.Pod{}, identity.Pod{})
	r.Kind = intreport.KindDrop
	m.Report(r, identity.Pod{}, identity.Pod{})
	m.ObserveWrite(1)
	families, err := m.Registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	have := map[string]bool{}
	for _, f := range families {
		have[f.GetName()] = true
	}
	names := regexp.MustCompile(`podint_collector_[a-z_]+`).FindAllString(string(b), -1)
	if len(names) == 0 {
		t.Fatal("no podint_collector metric in the dashboard: the scan is broken")
	}
	for _, n := range names {
		base := regexp.MustCompile(`_(bucket|sum|count)$`).ReplaceAllString(n, "")
		if !have[n] && !have[base] {
			t.Errorf("the dashboard queries %s, which the collector does not export", n)
		}
	}
}
