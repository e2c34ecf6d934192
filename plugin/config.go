package plugin

import (
	"encoding/json"
	"fmt"
	"path/filepath"

	"github.com/containernetworking/cni/pkg/types"
	"github.com/containernetworking/cni/pkg/version"

	"github.com/podint/podint/bpf/attach"
	"github.com/podint/podint/internal/instance"
)

// Fail policies: what ADD does when the probe cannot be set up.
const (
	FailPolicyIgnore = "ignore" // ADD succeeds; the daemon reconciles later
	FailPolicyFail   = "fail"   // ADD fails
)

// NetConf is the podint entry of a conflist. The defaults of every key are
// set in decodeConfig.
type NetConf struct {
	types.PluginConf

	// Root is the podint instance root (default "/"): the daemon's socket
	// and pinned programs live under it.
	Root string `json:"root,omitempty"`
	// FailPolicy is "ignore" (default) or "fail".
	FailPolicy string `json:"failPolicy,omitempty"`
	// LogFile, when set, receives the plugin's logs besides stderr.
	LogFile string `json:"logFile,omitempty"`
	// AttachMode is "auto" (default: TCX where the kernel has it, else tc),
	// "tcx" or "tc".
	AttachMode attach.Mode `json:"attachMode,omitempty"`
	// AttachPosition is "first" (default: before every other TC program on
	// the veth) or "last".
	AttachPosition attach.Position `json:"attachPosition,omitempty"`
	// PodSide, a JSON boolean, says whether ADD also attaches the pod-side
	// probe (in TCX mode), which only an eBPF datapath that moves packets
	// into a pod past its host veth needs (docs/cni-support.md). Omitted or
	// null: true. Kept raw so that validate can name a value of the wrong
	// type as this key's mistake (code 7) rather than a decode failure.
	PodSide json.RawMessage `json:"podSide,omitempty"`

	// Attachments is the spec's misspelt name of the GC list (CNI #1101);
	// ValidAttachments in PluginConf has the correct one.
	Attachments []types.GCAttachment `json:"cni.dev/attachments,omitempty"`
}

// Paths are the instance paths the config points at.
func (c *NetConf) Paths() instance.Paths { return instance.New(c.Root) }

func (c *NetConf) attachOptions() attach.Options {
	return attach.Options{Mode: c.AttachMode, Position: c.AttachPosition}
}

// podSide reads the podSide key: true when omitted or null.
func (c *NetConf) podSide() (bool, error) {
	if len(c.PodSide) == 0 || string(c.PodSide) == "null" {
		return true, nil
	}
	var on bool
	if err := json.Unmarshal(c.PodSide, &on); err != nil {
		return false, fmt.Errorf("podSide %s must be a JSON boolean: true (the default: attach the pod-side probe) "+
			"or false (the host veth's hooks only, for CNIs that never move packets past the host veth: bridge, ptp, flannel), without quotes", c.PodSide)
	}
	return on, nil
}

// withPodSide reports whether ADD attaches the pod-side probe; validate
// has checked the key.
func (c *NetConf) withPodSide() bool {
	on, err := c.podSide()
	return on || err != nil
}

// decodeConfig decodes stdin data and fills in the defaults. A decode
// failure is CNI error 6.
func decodeConfig(stdin []byte) (*NetConf, error) {
	conf := &NetConf{}
	if err := json.Unmarshal(stdin, conf); err != nil {
		return nil, types.NewError(types.ErrDecodingFailure, "podint: cannot decode network configuration",
			fmt.Sprintf("%v; the podint entry must be a JSON object like {\"type\":\"podint\"}", err))
	}
	if conf.Root == "" {
		conf.Root = instance.DefaultRoot
	}
	if conf.FailPolicy == "" {
		conf.FailPolicy = FailPolicyIgnore
	}
	// The defaults are attach's: an unknown value stays for validate to name.
	if m, err := attach.ParseMode(string(conf.AttachMode)); err == nil {
		conf.AttachMode = m
	}
	if p, err := attach.ParsePosition(string(conf.AttachPosition)); err == nil {
		conf.AttachPosition = p
	}
	return conf, nil
}

// validate rejects values that cannot work, as CNI error 7 naming the key
// and the fix.
func (c *NetConf) validate() error {
	invalid := func(key string, format string, a ...any) error {
		return types.NewError(types.ErrInvalidNetworkConfig, "podint: invalid "+key, fmt.Sprintf(format, a...))
	}
	_, modeErr := attach.ParseMode(string(c.AttachMode))
	_, posErr := attach.ParsePosition(string(c.AttachPosition))
	_, podSideErr := c.podSide()
	switch {
	case c.FailPolicy != FailPolicyIgnore && c.FailPolicy != FailPolicyFail:
		return invalid("failPolicy", "failPolicy %q must be %q or %q", c.FailPolicy, FailPolicyIgnore, FailPolicyFail)
	case modeErr != nil:
		return invalid("attachMode", "%v", modeErr)
	case posErr != nil:
		return invalid("attachPosition", "%v", posErr)
	case podSideErr != nil:
		return invalid("podSide", "%v", podSideErr)
	case !filepath.IsAbs(c.Root):
		// A plugin's working directory is whatever the runtime's is.
		return invalid("root", "root %q must be an absolute path", c.Root)
	case c.LogFile != "" && !filepath.IsAbs(c.LogFile):
		return invalid("logFile", "logFile %q must be an absolute path", c.LogFile)
	}
	return nil
}

// parseConfig is decodeConfig, validate and, when present, the prevResult
// decoded into the config's version.
func parseConfig(stdin []byte) (*NetConf, error) {
	conf, err := decodeConfig(stdin)
	if err != nil {
		return nil, err
	}
	if err := conf.validate(); err != nil {
		return nil, err
	}
	if conf.RawPrevResult != nil {
		if err := version.ParsePrevResult(&conf.PluginConf); err != nil {
			return nil, types.NewError(types.ErrDecodingFailure, "podint: cannot decode prevResult",
				fmt.Sprintf("%v; it must be a result of cniVersion %s", err, conf.CNIVersion))
		}
	}
	return conf, nil
}

// validAttachments merges both spellings of the GC list.
func (c *NetConf) validAttachments() []types.GCAttachment {
	return append(append([]types.GCAttachment{}, c.ValidAttachments...), c.Attachments...)
}
