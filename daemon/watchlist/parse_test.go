package watchlist

import (
	"net/netip"
	"strings"
	"testing"
)

func TestParseIntHostReporterForm(t *testing.T) {
	rules, err := Parse("watchlist.yaml", []byte(`
rules:
  - protocol: "UDP"
    src-addr: "192.168.99.50/32"
    dst-addr: "192.168.99.20/32"
  - protocol: "TCP"
    src-addr: "10.0.0.0/8"
    dst-addr: "fd00::/64"
    dst-ports: "5201"
  - protocol: icmp
  - dst-ports: 1000-2000
`))
	if err != nil {
		t.Fatal(err)
	}
	if len(rules) != 4 {
		t.Fatalf("%d rules, want 4", len(rules))
	}
	if rules[0].Proto != 17 || rules[0].Src != netip.MustParsePrefix("192.168.99.50/32") {
		t.Errorf("rule 0: %+v", rules[0])
	}
	if rules[1].Proto != 6 || rules[1].Dst != netip.MustParsePrefix("fd00::/64") || rules[1].DstPorts != [2]uint16{5201, 5201} {
		t.Errorf("rule 1: %+v", rules[1])
	}
	if rules[1].SrcPorts != [2]uint16{0, 65535} {
		t.Errorf("no src-ports must mean every port: %+v", rules[1].SrcPorts)
	}
	if rules[2].Proto != 1 || rules[2].Src.IsValid() {
		t.Errorf("rule 2: %+v", rules[2])
	}
	if rules[3].Proto != 0 || rules[3].DstPorts != [2]uint16{1000, 2000} {
		t.Errorf("rule 3: %+v", rules[3])
	}
}

func TestParseEmptySelectsEverything(t *testing.T) {
	for _, doc := range []string{"", "rules:", "rules: []", "# nothing\n"} {
		rules, err := Parse("w.yaml", []byte(doc))
		if err != nil || len(rules) != 0 {
			t.Errorf("%q: rules %v err %v, want none", doc, rules, err)
		}
	}
}

func TestParseErrorsNameFileLineAndFix(t *testing.T) {
	cases := []struct{ doc, want string }{
		{"rules:\n  - protocol: UDP\n    src-addr: 10.0.0.0/33\n", `w.yaml:2: src-addr "10.0.0.0/33" is not a CIDR`},
		{"rules:\n  - protocol: GRE\n", `w.yaml:2: protocol "GRE" is not`},
		{"rules:\n  - protocol: UDP\n  - dst-ports: 2000-1000\n", `w.yaml:3: dst-ports "2000-1000" is not a port`},
		{"rules:\n  - protocl: UDP\n", `w.yaml:2: unknown key "protocl"`},
		{"rule:\n  - protocol: UDP\n", `w.yaml:1: unknown key "rule"`},
		{"rules: udp\n", `w.yaml:1: "rules" must be a list`},
		{"rules: [\n", `w.yaml: not YAML`},
		{"rules:\n  - dst-addr: 10.1.2\n", `w.yaml:2: dst-addr "10.1.2" is not an IP address or CIDR`},
	}
	for _, c := range cases {
		_, err := Parse("w.yaml", []byte(c.doc))
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%q: error %v, want it to contain %q", c.doc, err, c.want)
		}
	}
}

func FuzzParse(f *testing.F) {
	f.Add([]byte("rules:\n  - protocol: UDP\n    src-addr: 10.0.0.0/8\n    dst-ports: 1-2\n"))
	f.Add([]byte("rules: []"))
	f.Fuzz(func(t *testing.T, b []byte) {
		rules, err := Parse("f.yaml", b)
		if err != nil {
			return
		}
		for _, r := range rules {
			if r.SrcPorts[0] > r.SrcPorts[1] || r.DstPorts[0] > r.DstPorts[1] {
				t.Fatalf("accepted an empty port range: %+v", r)
			}
		}
	})
}
