package plugin

import (
	"encoding/json"
	"fmt"

	"github.com/containernetworking/cni/pkg/types"
	"github.com/containernetworking/cni/pkg/version"

	"github.com/podint/podint/daemon/instance"
)

// Fail policies: what ADD does when the daemon cannot be reached.
const (
	FailPolicyIgnore = "ignore" // ADD succeeds; the daemon reconciles later
	FailPolicyFail   = "fail"   // ADD fails
)

// NetConf is the podint entry of a conflist.
type NetConf struct {
	types.PluginConf

	// Root is the podint instance root (default "/"): the daemon's socket
	// and pinned programs live under it.
	Root string `json:"root,omitempty"`
	// FailPolicy is "ignore" (default) or "fail".
	FailPolicy string `json:"failPolicy,omitempty"`
	// LogFile, when set, receives the plugin's logs besides stderr.
	LogFile string `json:"logFile,omitempty"`

	// Attachments is the spec's misspelt name of the GC list (CNI #1101);
	// ValidAttachments in PluginConf has the correct one.
	Attachments []types.GCAttachment `json:"cni.dev/attachments,omitempty"`
}

// Paths are the instance paths the config points at.
func (c *NetConf) Paths() instance.Paths { return instance.New(c.Root) }

// parseConfig decodes stdin data. A decode failure is CNI error 6, a value
// that cannot work is error 7; both name the key and the fix.
func parseConfig(stdin []byte) (*NetConf, error) {
	conf := &NetConf{}
	if err := json.Unmarshal(stdin, conf); err != nil {
		return nil, types.NewError(types.ErrDecodingFailure, "podint: cannot decode network configuration",
			fmt.Sprintf("%v; the podint entry must be a JSON object like {\"type\":\"podint\"}", err))
	}
	if conf.FailPolicy == "" {
		conf.FailPolicy = FailPolicyIgnore
	}
	if conf.FailPolicy != FailPolicyIgnore && conf.FailPolicy != FailPolicyFail {
		return nil, types.NewError(types.ErrInvalidNetworkConfig, "podint: invalid failPolicy",
			fmt.Sprintf("failPolicy %q must be %q or %q", conf.FailPolicy, FailPolicyIgnore, FailPolicyFail))
	}
	if conf.RawPrevResult != nil {
		if err := version.ParsePrevResult(&conf.PluginConf); err != nil {
			return nil, types.NewError(types.ErrDecodingFailure, "podint: cannot decode prevResult", err.Error())
		}
	}
	return conf, nil
}

// validAttachments merges both spellings of the GC list.
func (c *NetConf) validAttachments() []types.GCAttachment {
	return append(append([]types.GCAttachment{}, c.ValidAttachments...), c.Attachments...)
}
