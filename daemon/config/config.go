// Package config is the node daemon's one configuration type: its defaults,
// its flags and environment variables, and its validation.
package config

import (
	"cmp"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"os/user"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/pflag"

	"github.com/podint/podint/bpf"
	"github.com/podint/podint/daemon/exporter"
	"github.com/podint/podint/internal/instance"
	"github.com/podint/podint/internal/intreport"
)

// Config is everything podintd can be told.
type Config struct {
	Root           string        // instance root; see package instance
	NodeName       string        // reported in the topology
	SwitchID       string        // IPv4 address used as the 32-bit INT switch id; "" = auto
	Collectors     []string      // host:port of INT collectors
	ReportFormat   string        // v0.5 or v2.0
	ReportInterval time.Duration // steady-state reports per flow at most once per interval
	LatencyQuantum time.Duration // the floor of hop latency changes: below it, latencies count as it
	SnapLen        int           // bytes of the inner frame carried in a report
	DropReasons    []string      // kernel drop reasons reported or not, over bpf.DefaultDropReasons
	Uplinks        []string      // uplink interfaces; empty = the default route's; "none" = no uplink
	Watchlist      string        // watchlist YAML file; "" reports every flow
	LogLevel       string

	ConfigFile string // YAML file of these settings (flags and environment override it)
	HTTPListen string // host:port of the read-only HTTP listener; "" = none
	// HTTPTokenFile holds a bearer token that GET /api/v1/topology requires
	// (the pods of the node are not for anyone on the network); "" = none.
	HTTPTokenFile string
	APIGroup      string // group (name or gid) whose members may use the API socket, besides root
	CNICacheDir   string // libcni's cache directory (results/ inside); "" = <root>/var/lib/cni
	DetachOnExit  bool   // detach every probe on SIGTERM instead of leaving them running
	BPFStats      bool   // turn on the kernel's BPF run time statistics while running
	PprofListen   string // host:port serving Go's /debug/pprof/ for profiling; "" = none
}

// Default returns the defaults, the one place they are written down.
func Default() Config {
	host, _ := os.Hostname()
	return Config{
		Root:           instance.DefaultRoot,
		NodeName:       host,
		ReportFormat:   "v0.5",
		ReportInterval: bpf.DefaultSettings.ReportInterval,
		LatencyQuantum: bpf.DefaultSettings.LatencyQuantum,
		SnapLen:        intreport.DefaultSnapLen,
		LogLevel:       "info",
	}
}

// BindFlags registers a flag for every setting, defaulting to c's values.
func (c *Config) BindFlags(fs *pflag.FlagSet) {
	fs.StringVar(&c.Root, "root", c.Root, "instance root: socket, bpffs pins and state live under it")
	fs.StringVar(&c.NodeName, "node-name", c.NodeName, "node name reported in the topology")
	fs.StringVar(&c.SwitchID, "switch-id", c.SwitchID, "IPv4 address used as the INT switch id (default: the IPv4 of the default route's interface)")
	fs.StringSliceVar(&c.Collectors, "collector", c.Collectors, "INT collector host:port (repeatable; default port 32766)")
	fs.StringVar(&c.ReportFormat, "report-format", c.ReportFormat, "INT report format: v0.5 or v2.0")
	fs.DurationVar(&c.ReportInterval, "report-interval", c.ReportInterval, "at most one steady-state report per flow per interval")
	fs.DurationVar(&c.LatencyQuantum, "latency-quantum", c.LatencyQuantum, "report a flow again when its hop latency moves by more than a factor of 2; latencies below this count as this")
	fs.IntVar(&c.SnapLen, "snap-len", c.SnapLen, fmt.Sprintf("bytes of the packet carried in each report, %d..%d", exporter.MinSnapLen, bpf.MaxSnapLen))
	fs.StringSliceVar(&c.DropReasons, "drop-reasons", c.DropReasons, "kernel drop reasons to report or not, applied in order over the default ("+
		strings.Join(bpf.DefaultDropReasons, ",")+"): -NAME, -NAME@multicast, +NAME, NAME_* for a prefix, all, none, default (reloaded on change)")
	fs.StringSliceVar(&c.Uplinks, "uplink", c.Uplinks, "uplink interface to probe (repeatable; default: the default route's; \"none\" for no uplink)")
	fs.StringVar(&c.Watchlist, "watchlist", c.Watchlist, "watchlist YAML file selecting the flows to report (reloaded on change; default: every flow)")
	fs.StringVar(&c.LogLevel, "log-level", c.LogLevel, "debug, info, warn or error")
	fs.StringVar(&c.ConfigFile, "config", c.ConfigFile, "YAML file of these settings, keyed by flag name (flags and PODINT_* variables override it; reloaded on change)")
	fs.StringVar(&c.HTTPListen, "http-listen", c.HTTPListen, "host:port for the read-only HTTP listener: /healthz, /metrics, /api/v1/topology (default: off)")
	fs.StringVar(&c.HTTPTokenFile, "http-token-file", c.HTTPTokenFile, "file with a bearer token that /api/v1/topology on --http-listen requires (re-read per request; podint-collector sends it)")
	fs.StringVar(&c.APIGroup, "api-group", c.APIGroup, "group (name or gid) allowed on the API socket besides root; the socket becomes 0660 and owned by it")
	fs.StringVar(&c.CNICacheDir, "cni-cache-dir", c.CNICacheDir, "the container runtime's libcni cache directory, read to rebuild registrations missed while podintd was down (default <root>/var/lib/cni)")
	fs.BoolVar(&c.DetachOnExit, "detach-on-exit", c.DetachOnExit, "on SIGTERM, detach every probe and forget its registration (default: probes keep running without the daemon)")
	fs.BoolVar(&c.BPFStats, "bpf-stats", c.BPFStats, "enable the kernel's BPF run time statistics while podintd runs, for the per-program run time metrics")
	fs.StringVar(&c.PprofListen, "pprof-listen", c.PprofListen, "host:port serving Go's /debug/pprof/ profiles of podintd, without authentication: keep it on loopback (default: off)")
}

// Reloadable are the settings, by flag, a running podintd applies when its
// configuration changes; the others take effect at the next restart.
var Reloadable = []string{"collector", "report-interval", "latency-quantum", "drop-reasons", "log-level"}

// Changed names, by flag, the settings that differ between a and b, in
// the order of the flag names.
func Changed(a, b Config) []string {
	fa := pflag.NewFlagSet("a", pflag.ContinueOnError)
	fb := pflag.NewFlagSet("b", pflag.ContinueOnError)
	a.BindFlags(fa)
	b.BindFlags(fb)
	var out []string
	fa.VisitAll(func(f *pflag.Flag) {
		if f.Value.String() != fb.Lookup(f.Name).Value.String() {
			out = append(out, f.Name)
		}
	})
	return out
}

// ApplyEnv sets every flag not given on the command line from its
// environment variable PODINT_<NAME> (e.g. PODINT_COLLECTOR).
func ApplyEnv(fs *pflag.FlagSet) error {
	var errs []error
	fs.VisitAll(func(f *pflag.Flag) {
		if f.Changed {
			return
		}
		key := "PODINT_" + strings.ToUpper(strings.ReplaceAll(f.Name, "-", "_"))
		if v, ok := os.LookupEnv(key); ok {
			if err := fs.Set(f.Name, v); err != nil {
				errs = append(errs, fmt.Errorf("%s=%q: %w", key, v, err))
			}
		}
	})
	return errors.Join(errs...)
}

// Validate rejects settings that cannot work, naming the setting.
func (c *Config) Validate() error {
	var errs []error
	if _, err := intreport.ParseFormat(c.ReportFormat); err != nil {
		errs = append(errs, fmt.Errorf("report-format: %w", err))
	}
	if c.ReportInterval <= 0 {
		errs = append(errs, fmt.Errorf("report-interval: %s is not positive", c.ReportInterval))
	}
	if c.LatencyQuantum <= 0 {
		errs = append(errs, fmt.Errorf("latency-quantum: %s is not positive", c.LatencyQuantum))
	}
	if c.SnapLen < exporter.MinSnapLen || c.SnapLen > bpf.MaxSnapLen {
		errs = append(errs, fmt.Errorf("snap-len: %d is outside %d..%d: a report needs %d bytes for the Ethernet, IPv6 and TCP headers, and the probes capture at most %d",
			c.SnapLen, exporter.MinSnapLen, bpf.MaxSnapLen, exporter.MinSnapLen, bpf.MaxSnapLen))
	}
	if _, err := bpf.ParseDropReasons(c.DropReasons); err != nil {
		errs = append(errs, fmt.Errorf("drop-reasons: %w", err))
	}
	if c.SwitchID != "" {
		if a, err := netip.ParseAddr(c.SwitchID); err != nil || !a.Is4() {
			errs = append(errs, fmt.Errorf("switch-id: %q is not an IPv4 address", c.SwitchID))
		}
	}
	for _, col := range c.Collectors {
		if _, _, err := net.SplitHostPort(withDefaultPort(col)); err != nil {
			errs = append(errs, fmt.Errorf("collector: %q is not host:port: %w", col, err))
		}
	}
	if c.HTTPListen != "" {
		if _, port, err := net.SplitHostPort(c.HTTPListen); err != nil || port == "" {
			errs = append(errs, fmt.Errorf("http-listen: %q is not host:port (e.g. 127.0.0.1:9765)", c.HTTPListen))
		}
	}
	if c.PprofListen != "" {
		if _, port, err := net.SplitHostPort(c.PprofListen); err != nil || port == "" {
			errs = append(errs, fmt.Errorf("pprof-listen: %q is not host:port (e.g. 127.0.0.1:6060)", c.PprofListen))
		}
	}
	if c.APIGroup != "" {
		if _, err := c.APIGroupID(); err != nil {
			errs = append(errs, fmt.Errorf("api-group: %w", err))
		}
	}
	var lvl slog.Level
	if err := lvl.UnmarshalText([]byte(c.LogLevel)); err != nil {
		errs = append(errs, fmt.Errorf("log-level: %q is not debug, info, warn or error", c.LogLevel))
	}
	if len(c.Uplinks) > 1 && slices.Contains(c.Uplinks, "none") {
		errs = append(errs, fmt.Errorf("uplink: \"none\" cannot be combined with interfaces %v", c.Uplinks))
	}
	return errors.Join(errs...)
}

// APIGroupID resolves --api-group, a group name or a numeric gid.
func (c *Config) APIGroupID() (uint32, error) {
	if gid, err := strconv.ParseUint(c.APIGroup, 10, 32); err == nil {
		return uint32(gid), nil
	}
	g, err := user.LookupGroup(c.APIGroup)
	if err != nil {
		return 0, fmt.Errorf("group %q: %w (give an existing group name or a gid)", c.APIGroup, err)
	}
	gid, err := strconv.ParseUint(g.Gid, 10, 32)
	if err != nil {
		return 0, fmt.Errorf("group %q has gid %q, not a number", c.APIGroup, g.Gid)
	}
	return uint32(gid), nil
}

// CNICacheDirValue is where the container runtime's libcni keeps its cache.
func (c *Config) CNICacheDirValue() string {
	if c.CNICacheDir != "" {
		return c.CNICacheDir
	}
	return filepath.Join(cmp.Or(c.Root, instance.DefaultRoot), "var/lib/cni")
}

func withDefaultPort(hostport string) string {
	if _, _, err := net.SplitHostPort(hostport); err == nil {
		return hostport
	}
	return net.JoinHostPort(strings.Trim(hostport, "[]"), fmt.Sprint(intreport.DefaultPort))
}
