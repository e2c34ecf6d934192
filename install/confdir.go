package install

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

// ErrNoConfig means the conf dir holds no config podint can chain into yet:
// the primary CNI has not written its config.
var ErrNoConfig = errors.New("no primary CNI config yet")

// isConfigName reports whether a runtime loads a file of this name from the
// CNI conf dir. podint's temporary files never match.
func isConfigName(name string) bool {
	switch filepath.Ext(name) {
	case ".conf", ".conflist", ".json":
		return true
	}
	return false
}

// configNames lists the config files of dir in the order runtimes (libcni,
// containerd, CRI-O) sort them; the first is the one they use.
func configNames(dir string) ([]string, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("reading CNI conf dir: %w; check --cni-conf-dir and the hostPath mount", err)
	}
	var names []string
	for _, e := range entries {
		if !e.IsDir() && isConfigName(e.Name()) {
			names = append(names, e.Name())
		}
	}
	slices.Sort(names)
	return names, nil
}

// Target is the config file that gets podint's entry.
type Target struct {
	File   string // base name in the conf dir
	Active string // the runtime's active config; differs from File when Multus delegates
}

// multusConfig is what podint needs to know of a Multus config: the network
// it delegates a pod's cluster network (eth0) to.
type multusConfig struct {
	ClusterNetwork string            `json:"clusterNetwork"`
	Delegates      []json.RawMessage `json:"delegates"`
}

// asMultus reports whether data is a Multus config (the thin "multus" plugin
// or the thick "multus-shim"), as a single plugin or inside a conflist.
func asMultus(data []byte) (multusConfig, bool) {
	var top struct {
		multusConfig
		Type    string            `json:"type"`
		Plugins []json.RawMessage `json:"plugins"`
	}
	if json.Unmarshal(data, &top) != nil {
		return multusConfig{}, false
	}
	if isMultusType(top.Type) {
		return top.multusConfig, true
	}
	for _, p := range top.Plugins {
		var pc struct {
			multusConfig
			Type string `json:"type"`
		}
		if json.Unmarshal(p, &pc) == nil && isMultusType(pc.Type) {
			return pc.multusConfig, true
		}
	}
	return multusConfig{}, false
}

func isMultusType(t string) bool { return t == "multus" || t == "multus-shim" }

// findTarget picks the file to chain podint into from the conf dir's config
// files, given in runtime order, reading them with read.
//
// Normally that is the runtime's active (first) file. When it is Multus's,
// podint chains into the cluster network Multus delegates to instead: a pod's
// eth0 is set up by that delegate, and Multus reads the delegate's file (or,
// with inline "delegates", regenerates its own file from it when it changes).
// Appending podint to Multus's own list would run it after Multus, whose result
// carries only the cluster network, and the Multus daemon rewrites that file.
func findTarget(names []string, read func(string) ([]byte, error)) (Target, error) {
	if len(names) == 0 {
		return Target{}, fmt.Errorf("%w: no .conf, .conflist or .json file", ErrNoConfig)
	}
	active := names[0]
	data, err := read(active)
	if err != nil {
		return Target{}, err
	}
	if _, err := objectMembers(data); err != nil {
		return Target{}, configError(active, data, err)
	}
	m, ok := asMultus(data)
	if !ok {
		return Target{File: active, Active: active}, nil
	}
	others := names[1:]
	switch cn := m.ClusterNetwork; {
	case cn == "":
		// Inline delegates or none: Multus's "master" network is the first other
		// config in the directory.
		if len(others) == 0 {
			return Target{}, fmt.Errorf("%w: only Multus's %s, waiting for the cluster network's config", ErrNoConfig, active)
		}
		return Target{File: others[0], Active: active}, nil
	case strings.Contains(cn, "/") || isConfigName(cn):
		base := filepath.Base(cn)
		if !isConfigName(base) {
			return Target{}, fmt.Errorf("Multus config %s takes its cluster network from the directory %s; set --cni-conf-dir to that directory as mounted into podint-install", active, cn)
		}
		if !slices.Contains(others, base) {
			return Target{}, fmt.Errorf("%w: Multus config %s delegates to %s, which is not in this directory yet (if it never appears here, set --cni-conf-dir to the directory that holds it)", ErrNoConfig, active, cn)
		}
		return Target{File: base, Active: active}, nil
	default:
		for _, n := range others {
			d, err := read(n)
			if err != nil {
				continue
			}
			var net struct {
				Name string `json:"name"`
			}
			if json.Unmarshal(d, &net) == nil && net.Name == cn {
				if _, isMultus := asMultus(d); !isMultus {
					return Target{File: n, Active: active}, nil
				}
			}
		}
		return Target{}, fmt.Errorf("%w: Multus config %s delegates to the network %q, which no file here defines (if it is a NetworkAttachmentDefinition, add {\"type\":\"podint\"} to its plugins yourself)", ErrNoConfig, active, cn)
	}
}

// renameKeepsOrder reports whether replacing file old by file new (converting
// a .conf into a .conflist) leaves every config in the same place of the
// runtime's order. If another config sorted between the two names, the
// conversion would hand the node, or Multus's cluster network, to that config.
func renameKeepsOrder(names []string, old, new string) bool {
	lo, hi := min(old, new), max(old, new)
	for _, n := range names {
		if n != old && n != new && lo < n && n < hi {
			return false
		}
	}
	return true
}
