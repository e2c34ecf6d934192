package install

import (
	"bytes"
	"fmt"
	"strings"
)

// PodSide is the operator's choice of the plugin's pod-side probe (its
// "podSide" key): PodSideAuto decides per node from the primary CNI.
type PodSide string

const (
	PodSideAuto PodSide = "auto"
	PodSideOn   PodSide = "true"
	PodSideOff  PodSide = "false"
)

// podSideKey is the plugin's key (plugin/config.go).
const podSideKey = "podSide"

// ParsePodSide reads --pod-side; "" is auto.
func ParsePodSide(s string) (PodSide, error) {
	switch p := PodSide(strings.ToLower(strings.TrimSpace(s))); p {
	case "":
		return PodSideAuto, nil
	case PodSideAuto, PodSideOn, PodSideOff:
		return p, nil
	}
	return "", fmt.Errorf("pod side %q: want auto (off for bridge, ptp and flannel, on otherwise), true or false", s)
}

// neverBypass are the primary plugins whose datapath moves every packet
// into a pod through the host veth, so that the host veth's egress probe
// sees it and the pod-side probe never reports anything
// (docs/cni-support.md): they put the veth on a Linux bridge or route
// through the host stack, and load no eBPF program that could
// bpf_redirect_peer past it.
var neverBypass = map[string]string{
	"bridge":  "the bridge plugin forwards through a Linux bridge and the host veth",
	"ptp":     "the ptp plugin routes through the host stack and the host veth",
	"flannel": "flannel delegates to the bridge plugin",
}

// ebpfChained are plugins that, chained after any primary, put eBPF
// programs on the pods' veths that may redirect packets past them
// (Cilium's chaining mode).
var ebpfChained = map[string]bool{"cilium-cni": true}

// podSideChoice is what the entry of a chain says about the pod side, and why.
type podSideChoice struct {
	on      bool
	primary string // the chain's first plugin type
	why     string
}

// decidePodSide chooses the pod side for a chain of plugin types (podint's
// own entries left out): the operator's explicit choice, else off only for
// a primary known never to bypass the host veth (and no eBPF plugin
// chained after it), on for every other or unknown primary, whose datapath
// may bypass it (Cilium, or Calico, whose eBPF dataplane is a Felix
// setting not in the CNI config).
func decidePodSide(choice PodSide, chain []string) podSideChoice {
	c := podSideChoice{on: true}
	var others []string
	for _, t := range chain {
		if t != PluginType {
			others = append(others, t)
		}
	}
	if len(others) > 0 {
		c.primary = others[0]
	}
	switch choice {
	case PodSideOn:
		c.why = "--pod-side=true"
		return c
	case PodSideOff:
		c.on, c.why = false, "--pod-side=false"
		return c
	}
	reason, safe := neverBypass[c.primary]
	if !safe {
		c.why = fmt.Sprintf("auto: the primary plugin %q is not one known never to move packets into pods past the host veth (eBPF datapaths such as Cilium's or Calico's do)", c.primary)
		return c
	}
	for _, t := range others[1:] {
		if ebpfChained[t] {
			c.why = fmt.Sprintf("auto: %q is chained after %s and its eBPF programs may redirect packets past the host veth", t, c.primary)
			return c
		}
	}
	c.on, c.why = false, "auto: "+reason+"; the pod-side probe would never report"
	return c
}

// chainTypes lists the plugin types of a config file: a conflist's
// plugins, or a single plugin's type. nil when the file cannot be read as
// either (insert reports why).
func chainTypes(name string, data []byte) []string {
	if isConflistName(name) || convertedInPlace(name, data) {
		c, err := parseConflist(data)
		if err != nil {
			return nil
		}
		return c.types
	}
	t, err := pluginType(data)
	if err != nil {
		return nil
	}
	return []string{t}
}

// value is the JSON value the entry gives key, nil when it sets none.
func (e Entry) value(key string) []byte {
	members, err := objectMembers(e.compact)
	if err != nil {
		return nil
	}
	for _, m := range members {
		if m.key == key {
			return e.compact[m.val.start:m.val.end]
		}
	}
	return nil
}

// with returns the entry with key set to the JSON value val, after its
// other keys; the entry must not set key already.
func (e Entry) with(key, val string) Entry {
	b := bytes.TrimSuffix(bytes.Clone(e.compact), []byte("}"))
	b = fmt.Appendf(b, ",%q:%s}", key, val)
	return Entry{compact: b}
}

// CheckPodSide refuses a "podSide" in the plugin config that is no JSON
// boolean (the plugin would fail every ADD with it), and an explicit
// --pod-side that it contradicts.
func CheckPodSide(choice PodSide, e Entry) error {
	v := e.value(podSideKey)
	if v != nil && string(v) != "true" && string(v) != "false" {
		return fmt.Errorf("\"podSide\":%s in --plugin-config must be true or false, without quotes; or leave it out and use --pod-side", v)
	}
	if (choice != PodSideOn && choice != PodSideOff) || v == nil || string(v) == string(choice) {
		return nil
	}
	return fmt.Errorf("--pod-side=%s contradicts \"podSide\":%s in --plugin-config; set only one of them", choice, v)
}

// entryFor is the entry to chain into a config whose plugins are chain,
// and the choice it makes. A "podSide" in the plugin config is the
// operator's and stays; otherwise the key is written only to turn the pod
// side off, so the entry of a chain that keeps it says what it always said.
func (in *Installer) entryFor(chain []string) (Entry, podSideChoice) {
	if v := in.Entry.value(podSideKey); v != nil {
		c := decidePodSide(PodSideOn, chain)
		c.on, c.why = string(v) != "false", "\"podSide\":"+string(v)+" in --plugin-config"
		return in.Entry, c
	}
	c := decidePodSide(in.PodSide, chain)
	if c.on {
		return in.Entry, c
	}
	return in.Entry.with(podSideKey, "false"), c
}

// logPodSide says what entryFor chose for file, when that differs from
// what it last said.
func (in *Installer) logPodSide(file string, c podSideChoice) {
	said := fmt.Sprint(file, c)
	if said == in.podSideSaid {
		return
	}
	in.podSideSaid = said
	in.log().Info("pod-side probes", "on", c.on, "file", file, "primary", c.primary, "why", c.why)
}

// AutoPodSide is what --pod-side=auto chooses for a chain of plugin types,
// and why; for tools that configure podint as the installer would (the
// benchmark).
func AutoPodSide(chain []string) (on bool, why string) {
	c := decidePodSide(PodSideAuto, chain)
	return c.on, c.why
}
