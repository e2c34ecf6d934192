package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/spf13/pflag"
)

func writeConfig(t *testing.T, body string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "podintd.yaml")
	if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// The file sets what neither the environment nor the command line sets;
// the environment beats the file and the command line beats both.
func TestLoadPrecedence(t *testing.T) {
	path := writeConfig(t, `
collector: [10.0.0.50:32766, "[fd00::50]:9000"]
report-interval: 3s
snap-len: 96
switch-id: 10.0.0.1
latency-quantum: 50us
`)
	t.Setenv("PODINT_REPORT_INTERVAL", "4s")
	t.Setenv("PODINT_SNAP_LEN", "100")
	c, err := Load([]string{"--config", path, "--snap-len", "110"})
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(c.Collectors, " "); got != "10.0.0.50:32766 [fd00::50]:9000" {
		t.Errorf("collectors from the file: %q", got)
	}
	if c.ReportInterval != 4*time.Second {
		t.Errorf("report-interval %s: the environment (4s) must beat the file (3s)", c.ReportInterval)
	}
	if c.SnapLen != 110 {
		t.Errorf("snap-len %d: the command line (110) must beat the environment and the file", c.SnapLen)
	}
	if c.LatencyQuantum != 50*time.Microsecond || c.SwitchID != "10.0.0.1" {
		t.Errorf("latency-quantum %s, switch-id %q: want the file's", c.LatencyQuantum, c.SwitchID)
	}
	if c.LogLevel != "info" || c.Root != "/" {
		t.Errorf("unset settings must keep their defaults: log-level %q root %q", c.LogLevel, c.Root)
	}
}

func TestConfigFileFromTheEnvironment(t *testing.T) {
	path := writeConfig(t, "http-listen: 127.0.0.1:9765\ndetach-on-exit: true\n")
	t.Setenv("PODINT_CONFIG", path)
	c, err := Load(nil)
	if err != nil {
		t.Fatal(err)
	}
	if c.HTTPListen != "127.0.0.1:9765" || !c.DetachOnExit {
		t.Errorf("settings of PODINT_CONFIG's file not applied: %+v", c)
	}
}

// Every error names the setting, and for the file its line.
func TestLoadErrorsNameTheSetting(t *testing.T) {
	for _, tc := range []struct {
		name, file string
		args       []string
		want       []string
	}{
		{"unknown key", "colector: 10.0.0.5\n", nil, []string{"podintd.yaml:1", `unknown setting "colector"`}},
		{"bad duration", "snap-len: 64\nreport-interval: soon\n", nil, []string{"podintd.yaml:2", "report-interval", `"soon"`}},
		{"invalid value", "snap-len: 4000\n", nil, []string{"snap-len: 4000 is outside 74..256"}},
		{"not a mapping", "- a\n- b\n", nil, []string{"podintd.yaml:1", "mapping"}},
		{"nested value", "collector: {a: b}\n", nil, []string{"podintd.yaml:1", "collector", "list of values"}},
		{"bad flag value", "", []string{"--http-listen", "9765"}, []string{"http-listen", `"9765"`}},
		{"bad log level", "log-level: loud\n", nil, []string{"log-level", `"loud"`}},
		{"bad switch id", "", []string{"--switch-id", "fd00::1"}, []string{"switch-id", "IPv4"}},
		{"config in config", "config: other.yaml\n", nil, []string{`unknown setting "config"`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			args := append([]string{"--config", writeConfig(t, tc.file)}, tc.args...)
			_, err := Load(args)
			if err == nil {
				t.Fatal("accepted")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not say %q", err, w)
				}
			}
		})
	}
}

func TestMissingConfigFileIsAnError(t *testing.T) {
	_, err := Load([]string{"--config", filepath.Join(t.TempDir(), "none.yaml")})
	if err == nil || !strings.Contains(err.Error(), "none.yaml") {
		t.Fatalf("error %v does not name the missing file", err)
	}
}

// An empty list and an empty file are accepted as "nothing set".
func TestEmptyValues(t *testing.T) {
	c, err := Load([]string{"--config", writeConfig(t, "uplink: []\n")})
	if err != nil || len(c.Uplinks) != 0 {
		t.Fatalf("uplink: [] gave %v, %v", c.Uplinks, err)
	}
	if _, err := Load([]string{"--config", writeConfig(t, "")}); err != nil {
		t.Fatalf("empty file: %v", err)
	}
}

func TestCNICacheDirFollowsTheRoot(t *testing.T) {
	c := Default()
	c.Root = "/tmp/node1"
	if got := c.CNICacheDirValue(); got != "/tmp/node1/var/lib/cni" {
		t.Errorf("default CNI cache dir %q", got)
	}
	c.CNICacheDir = "/var/lib/cni/cache"
	if got := c.CNICacheDirValue(); got != "/var/lib/cni/cache" {
		t.Errorf("configured CNI cache dir %q", got)
	}
}

// A reload resolves the same command line again over a changed file: the
// command line's values, slices included, still win.
func TestResolveAgainKeepsTheCommandLine(t *testing.T) {
	path := writeConfig(t, "collector: [10.0.0.50:32766]\nreport-interval: 3s\n")
	cmdline := pflagSet(t, "--config", path, "--collector", "10.0.0.9:1,10.0.0.8:2")
	if err := os.WriteFile(path, []byte("collector: [10.0.0.51:32766]\nreport-interval: 5s\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	c, err := Resolve(cmdline)
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(c.Collectors, " "); got != "10.0.0.9:1 10.0.0.8:2" || c.ReportInterval != 5*time.Second {
		t.Errorf("collectors %q, report-interval %s: want the command line's and the new file's 5s", got, c.ReportInterval)
	}
}

func pflagSet(t *testing.T, args ...string) *pflag.FlagSet {
	t.Helper()
	c := Default()
	fs := pflag.NewFlagSet("podintd", pflag.ContinueOnError)
	c.BindFlags(fs)
	if err := fs.Parse(args); err != nil {
		t.Fatal(err)
	}
	return fs
}

// Changed names the settings by their flags; the reloadable ones are flags.
func TestChangedNamesFlags(t *testing.T) {
	a, b := Default(), Default()
	b.SnapLen, b.Uplinks, b.DetachOnExit = 100, []string{"eth1"}, true
	if got := strings.Join(Changed(a, b), " "); got != "detach-on-exit snap-len uplink" {
		t.Errorf("Changed: %q", got)
	}
	fs := pflag.NewFlagSet("podintd", pflag.ContinueOnError)
	a.BindFlags(fs)
	for _, name := range Reloadable {
		if fs.Lookup(name) == nil {
			t.Errorf("Reloadable names %q, which is no flag", name)
		}
	}
}
