package intreport

import (
	"os"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// readmeDropTable is the README's table of INT drop reason codes: code,
// name and the kernel reasons (names, and prefixes ending in _*).
func readmeDropTable(t *testing.T) map[uint8]struct {
	name    string
	reasons []string
} {
	t.Helper()
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	row := regexp.MustCompile("(?m)^\\| (\\d+) \\| ([a-z0-9 ]+) \\| (.*) \\|$")
	reason := regexp.MustCompile("`([A-Z0-9_]+\\*?)`")
	out := map[uint8]struct {
		name    string
		reasons []string
	}{}
	for _, m := range row.FindAllStringSubmatch(string(readme), -1) {
		code, err := strconv.Atoi(m[1])
		if err != nil || code > 255 {
			continue
		}
		var rs []string
		for _, r := range reason.FindAllStringSubmatch(m[3], -1) {
			rs = append(rs, r[1])
		}
		out[uint8(code)] = struct {
			name    string
			reasons []string
		}{m[2], rs}
	}
	if len(out) < 10 {
		t.Fatalf("README.md: only %d rows of the drop reason table found", len(out))
	}
	return out
}

// The README's drop reason table says what the mapping does: every code's
// name, every kernel reason it lists maps to its code, and every reason
// the mapping names is listed.
func TestReadmeDropReasonTableIsTheMapping(t *testing.T) {
	table := readmeDropTable(t)
	listed := map[string]bool{}
	for code, row := range table {
		if got := DropReasonName(code); got != row.name {
			t.Errorf("README: code %d is %q, DropReasonName says %q", code, row.name, got)
		}
		for _, r := range row.reasons {
			listed[r] = true
			name, ttl := r, -1
			if prefix, ok := strings.CutSuffix(r, "*"); ok {
				name = prefix + "SOMETHING_NEW"
			}
			if r == "IP_INHDR" && code == DropReasonIPTTLZero {
				ttl = 1
			}
			if r == "IP_INHDR" && code != DropReasonIPTTLZero {
				ttl = 64
			}
			if got := KernelDropReasonCode(name, ttl); got != code {
				t.Errorf("README lists %s under %d (%s), the mapping gives %d", r, code, row.name, got)
			}
		}
	}
	for name := range kernelDropReasons {
		if !listed[name] {
			t.Errorf("kernel reason %s is mapped but not in README.md's table", name)
		}
	}
	for _, p := range kernelDropReasonPrefixes {
		if !listed[p.prefix+"*"] {
			t.Errorf("kernel reason prefix %s* is mapped but not in README.md's table", p.prefix)
		}
	}
	for c := range podintDropReasons {
		if _, ok := table[c]; !ok {
			t.Errorf("podint's code %d (%s) is not in README.md's table", c, podintDropReasons[c])
		}
	}
}
