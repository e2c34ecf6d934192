package store_test

import (
	"context"
	"encoding/json"
	"os"
	"regexp"
	"testing"
	"time"
)

// dashboardFile is the Grafana dashboard shipped in deployments/.
const dashboardFile = "../../deployments/grafana/podint-collector.json"

type dashboard struct {
	Panels []struct {
		Title   string `json:"title"`
		Targets []struct {
			RefID  string `json:"refId"`
			RawSQL string `json:"rawSql"`
		} `json:"targets"`
	} `json:"panels"`
}

var timeFilter = regexp.MustCompile(`\$__timeFilter\(([a-z_]+)\)`)

// Every SQL query of the dashboard runs against the real schema and finds
// the path a batch stored: a renamed column or view breaks this test, not
// the user's dashboard.
func TestDashboardQueriesRunAgainstTheSchema(t *testing.T) {
	b, err := os.ReadFile(dashboardFile)
	if err != nil {
		t.Fatal(err)
	}
	var d dashboard
	if err := json.Unmarshal(b, &d); err != nil {
		t.Fatalf("%s: %v", dashboardFile, err)
	}
	ctx := context.Background()
	s := openStore(t)
	if err := s.Write(ctx, batchAt("now", 3, time.Now().Add(-time.Minute))); err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, p := range d.Panels {
		for _, tg := range p.Targets {
			if tg.RawSQL == "" {
				continue
			}
			n++
			q := timeFilter.ReplaceAllString(tg.RawSQL, "$1 >= now() - interval '1 hour'")
			rows, err := s.Pool().Query(ctx, q)
			if err != nil {
				t.Errorf("panel %q query %s: %v", p.Title, tg.RefID, err)
				continue
			}
			count := 0
			for rows.Next() {
				count++
			}
			if err := rows.Err(); err != nil {
				t.Errorf("panel %q query %s: %v", p.Title, tg.RefID, err)
			}
			rows.Close()
			if count == 0 {
				t.Errorf("panel %q query %s found nothing of the stored path", p.Title, tg.RefID)
			}
		}
	}
	if n < 5 {
		t.Errorf("%d SQL queries in the dashboard, want the 5 PostgreSQL panels' queries", n)
	}
}
