// Package watchlist reads the watchlist file that selects which flows
// podint reports, and keeps it in force: it accepts int-host-reporter's
// watchlist.yaml form (rules of protocol, src-addr, dst-addr) and extends it
// with port ranges; a file with an error is rejected with its line and the
// previous rules stay in force.
package watchlist

import (
	"errors"
	"fmt"
	"net/netip"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/podint/podint/bpf"
)

// Rule is one watchlist entry as written in the file.
type Rule struct {
	Protocol string `yaml:"protocol"`
	SrcAddr  string `yaml:"src-addr"`
	DstAddr  string `yaml:"dst-addr"`
	SrcPorts string `yaml:"src-ports"`
	DstPorts string `yaml:"dst-ports"`
}

var protocols = map[string]uint8{
	"any": 0, "icmp": 1, "tcp": 6, "udp": 17, "icmpv6": 58, "sctp": 132,
}

// Parse reads a watchlist document. name is used in errors ("file:line:").
// An empty document, or one without rules, selects every flow.
func Parse(name string, data []byte) ([]bpf.WatchRule, error) {
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return nil, fmt.Errorf("%s: not YAML: %w", name, err)
	}
	if len(doc.Content) == 0 {
		return nil, nil
	}
	root := doc.Content[0]
	if root.Kind != yaml.MappingNode {
		return nil, fmt.Errorf("%s:%d: want a mapping with a \"rules\" list", name, root.Line)
	}
	var rulesNode *yaml.Node
	for i := 0; i+1 < len(root.Content); i += 2 {
		k := root.Content[i]
		if k.Value != "rules" {
			return nil, fmt.Errorf("%s:%d: unknown key %q (want \"rules\")", name, k.Line, k.Value)
		}
		rulesNode = root.Content[i+1]
	}
	if rulesNode == nil || rulesNode.Tag == "!!null" {
		return nil, nil
	}
	if rulesNode.Kind != yaml.SequenceNode {
		return nil, fmt.Errorf("%s:%d: \"rules\" must be a list", name, rulesNode.Line)
	}
	var out []bpf.WatchRule
	for _, n := range rulesNode.Content {
		var r Rule
		if err := decodeStrict(n, &r); err != nil {
			return nil, fmt.Errorf("%s:%d: %w", name, n.Line, err)
		}
		wr, err := r.compile()
		if err != nil {
			return nil, fmt.Errorf("%s:%d: %w", name, n.Line, err)
		}
		out = append(out, wr)
	}
	return out, nil
}

// decodeStrict decodes a rule, refusing keys it does not know so that a
// misspelt key is an error, not a rule that silently matches everything.
func decodeStrict(n *yaml.Node, r *Rule) error {
	if n.Kind != yaml.MappingNode {
		return errors.New("a rule must be a mapping of protocol, src-addr, dst-addr, src-ports, dst-ports")
	}
	known := map[string]bool{"protocol": true, "src-addr": true, "dst-addr": true, "src-ports": true, "dst-ports": true}
	for i := 0; i+1 < len(n.Content); i += 2 {
		if k := n.Content[i]; !known[k.Value] {
			return fmt.Errorf("unknown key %q in rule (want protocol, src-addr, dst-addr, src-ports, dst-ports)", k.Value)
		}
	}
	return n.Decode(r)
}

func (r Rule) compile() (bpf.WatchRule, error) {
	var w bpf.WatchRule
	p := strings.ToLower(strings.TrimSpace(r.Protocol))
	if p != "" {
		if v, ok := protocols[p]; ok {
			w.Proto = v
		} else if n, err := strconv.ParseUint(p, 10, 8); err == nil {
			w.Proto = uint8(n)
		} else {
			return w, fmt.Errorf("protocol %q is not TCP, UDP, ICMP, ICMPv6, SCTP, any or a protocol number", r.Protocol)
		}
	}
	var err error
	if w.Src, err = parsePrefix("src-addr", r.SrcAddr); err != nil {
		return w, err
	}
	if w.Dst, err = parsePrefix("dst-addr", r.DstAddr); err != nil {
		return w, err
	}
	if w.SrcPorts, err = parsePorts("src-ports", r.SrcPorts); err != nil {
		return w, err
	}
	if w.DstPorts, err = parsePorts("dst-ports", r.DstPorts); err != nil {
		return w, err
	}
	return w, nil
}

// parsePrefix accepts a CIDR or a single address; "" matches any address.
func parsePrefix(key, s string) (netip.Prefix, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return netip.Prefix{}, nil
	}
	if strings.Contains(s, "/") {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return p, fmt.Errorf("%s %q is not a CIDR", key, s)
		}
		return p.Masked(), nil
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Prefix{}, fmt.Errorf("%s %q is not an IP address or CIDR", key, s)
	}
	return netip.PrefixFrom(a, a.BitLen()), nil
}

// parsePorts accepts "80" or "1000-2000"; "" is every port.
func parsePorts(key, s string) ([2]uint16, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return [2]uint16{0, 65535}, nil
	}
	lo, hi, isRange := strings.Cut(s, "-")
	if !isRange {
		hi = lo
	}
	l, err1 := strconv.ParseUint(strings.TrimSpace(lo), 10, 16)
	h, err2 := strconv.ParseUint(strings.TrimSpace(hi), 10, 16)
	if err1 != nil || err2 != nil || l > h {
		return [2]uint16{}, fmt.Errorf("%s %q is not a port or a range like 1000-2000", key, s)
	}
	return [2]uint16{uint16(l), uint16(h)}, nil
}
