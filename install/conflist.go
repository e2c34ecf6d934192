package install

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"strings"
)

// convertedFromKey marks a conflist that podint made from a single-plugin file
// (.conf or .json) and names that file, so that uninstall can put it back.
const convertedFromKey = "podintConvertedFrom"

// convertedIndent indents the original single-plugin config inside the conflist
// podint makes of it; uninstall takes it off again.
const convertedIndent = "    "

// ConfigError is a CNI config file podint cannot edit; podint leaves such a
// file exactly as it is.
type ConfigError struct {
	File      string
	Line, Col int // 1-based position of the problem; 0 when unknown
	Err       error
}

func (e *ConfigError) Error() string {
	where := e.File
	if e.Line > 0 {
		where = fmt.Sprintf("%s:%d:%d", e.File, e.Line, e.Col)
	}
	return fmt.Sprintf("%s: %v (podint left the file unchanged; fix it, or the CNI that writes it)", where, e.Err)
}

func (e *ConfigError) Unwrap() error { return e.Err }

func configError(file string, data []byte, err error) *ConfigError {
	ce := &ConfigError{File: file, Err: err}
	if errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) {
		ce.Err = errors.New("unexpected end of JSON input")
		ce.Line, ce.Col = lineCol(data, len(data))
	} else if off, ok := errorOffset(err); ok {
		ce.Line, ce.Col = lineCol(data, off)
	}
	return ce
}

// Edit is the outcome of editing one config file: write Data to Name, then
// delete Remove (set when the edit changes the file's name, as converting a
// .conf into a .conflist does). Writing before deleting means the runtime
// always finds a config.
type Edit struct {
	Name    string
	Data    []byte
	Remove  string
	Changed bool
}

// conflist is a parsed .conflist: its top-level members and plugin elements.
type conflist struct {
	members []member
	plugins []span
	types   []string // "type" of each plugin, in order
}

func (c conflist) member(key string) (member, bool) {
	for _, m := range c.members {
		if m.key == key {
			return m, true
		}
	}
	return member{}, false
}

func (c conflist) podintIndexes() []int {
	var idx []int
	for i, t := range c.types {
		if t == PluginType {
			idx = append(idx, i)
		}
	}
	return idx
}

// parseConflist checks data is a conflist a runtime can run and locates its parts.
func parseConflist(data []byte) (conflist, error) {
	members, err := objectMembers(data)
	if err != nil {
		return conflist{}, err
	}
	c := conflist{members: members}
	name, ok := c.member("name")
	if !ok {
		return conflist{}, errors.New(`no "name": runtimes reject a conflist without one`)
	}
	if err := mustString(data, name.val, "name"); err != nil {
		return conflist{}, err
	}
	plugins, ok := c.member("plugins")
	if !ok {
		return conflist{}, errors.New(`no "plugins" list (plugins loaded from a directory are not supported)`)
	}
	if data[plugins.val.start] != '[' {
		return conflist{}, offsetError{plugins.val.start, errors.New(`"plugins" is not a list`)}
	}
	c.plugins, err = arrayElements(data, plugins.val)
	if err != nil {
		return conflist{}, err
	}
	if len(c.plugins) == 0 {
		return conflist{}, offsetError{plugins.val.start, errors.New(`"plugins" is empty`)}
	}
	for i, p := range c.plugins {
		t, err := pluginType(data[p.start:p.end])
		if err != nil {
			return conflist{}, offsetError{p.start, fmt.Errorf("plugin %d: %w", i, err)}
		}
		c.types = append(c.types, t)
	}
	return c, nil
}

// pluginType returns the "type" of one plugin config object.
func pluginType(obj []byte) (string, error) {
	var p struct {
		Type *string `json:"type"`
	}
	if err := json.Unmarshal(obj, &p); err != nil {
		return "", fmt.Errorf("not a plugin config object: %w", err)
	}
	if p.Type == nil || *p.Type == "" {
		return "", errors.New(`no "type"`)
	}
	return *p.Type, nil
}

func mustString(data []byte, s span, key string) error {
	var v string
	if json.Unmarshal(data[s.start:s.end], &v) != nil {
		return offsetError{s.start, fmt.Errorf("%q is not a string", key)}
	}
	return nil
}

func isConflistName(name string) bool { return filepath.Ext(name) == ".conflist" }

// conflistName is the name of the conflist that replaces a single-plugin file.
func conflistName(name string) string {
	return strings.TrimSuffix(name, filepath.Ext(name)) + ".conflist"
}

// Insert returns the edit that makes the config in file name (content data)
// run podint after its plugins. An entry already there is kept if it says
// the same as e and replaced otherwise, so Insert is idempotent. A single-plugin
// file (.conf, .json) becomes a conflist under a .conflist name, since runtimes
// pick the format by extension. The primary's "name", "cniVersion" and
// everything else it wrote stay byte for byte.
func Insert(name string, data []byte, e Entry) (Edit, error) {
	return insert(name, data, e, false)
}

// InsertKeepingName is Insert for a file that Multus, not the runtime, reads:
// a single-plugin file becomes a conflist under its own name, because Multus
// may name the file in its config and tells the formats apart by content.
func InsertKeepingName(name string, data []byte, e Entry) (Edit, error) {
	return insert(name, data, e, true)
}

func insert(name string, data []byte, e Entry, keepName bool) (Edit, error) {
	inPlace := convertedInPlace(name, data)
	if !isConflistName(name) && !inPlace {
		return convert(name, data, e, keepName)
	}
	c, err := parseConflist(data)
	if err != nil {
		return Edit{}, configError(name, data, err)
	}
	edit := Edit{Name: name, Data: data}
	if inPlace && !keepName {
		// The runtime reads this file now (Multus went away): it must carry the
		// conflist extension.
		edit = Edit{Name: conflistName(name), Data: data, Remove: name, Changed: true}
	}
	idx := c.podintIndexes()
	switch {
	case len(idx) == 0:
		edit.Data = appendPlugin(data, c.plugins, e.compact)
	case len(idx) == 1 && e.sameAs(data[c.plugins[idx[0]].start:c.plugins[idx[0]].end]):
		return edit, nil
	default:
		// Replace the first (older) entry in place, keeping its position in the
		// chain, and drop any duplicates.
		out := splice(data, c.plugins[idx[0]], e.compact)
		for {
			c, err = parseConflist(out)
			if err != nil {
				return Edit{}, configError(name, out, err)
			}
			idx = c.podintIndexes()
			if len(idx) <= 1 {
				break
			}
			out = cutItem(out, c.plugins, idx[len(idx)-1])
		}
		edit.Data = out
	}
	edit.Changed = true
	return edit, nil
}

// convertedInPlace reports whether data is a conflist that podint made from
// the single-plugin file name under that same name (see InsertKeepingName).
func convertedInPlace(name string, data []byte) bool {
	if isConflistName(name) {
		return false
	}
	var m map[string]json.RawMessage
	if json.Unmarshal(data, &m) != nil {
		return false
	}
	var from string
	_, hasPlugins := m["plugins"]
	return hasPlugins && json.Unmarshal(m[convertedFromKey], &from) == nil && from == name
}

// appendPlugin adds obj after the last element of plugins, laid out like that
// element: on a line of its own with the same indent, or on the same line.
func appendPlugin(data []byte, plugins []span, obj []byte) []byte {
	last := plugins[len(plugins)-1]
	prevEnd := bytes.LastIndexAny(data[:last.start], "[,") + 1
	ws := data[prevEnd:last.start]
	if i := bytes.LastIndexByte(ws, '\n'); i >= 0 {
		ws = ws[i:]
	}
	var ins []byte
	ins = append(ins, ',')
	ins = append(ins, ws...)
	ins = append(ins, obj...)
	return splice(data, span{last.end, last.end}, ins)
}

// convert turns a single-plugin config into a conflist of that plugin and podint.
func convert(name string, data []byte, e Entry, keepName bool) (Edit, error) {
	members, err := objectMembers(data)
	if err != nil {
		return Edit{}, configError(name, data, err)
	}
	c := conflist{members: members}
	if _, ok := c.member("plugins"); ok {
		return Edit{}, &ConfigError{File: name, Err: fmt.Errorf("holds a plugins list, but runtimes read a %s file as a single plugin; rename it to %s", filepath.Ext(name), conflistName(name))}
	}
	if _, err := pluginType(data); err != nil {
		return Edit{}, configError(name, data, err)
	}
	netName, ok := c.member("name")
	if !ok {
		return Edit{}, &ConfigError{File: name, Err: errors.New(`no "name": podint needs one for the conflist it makes of this file`)}
	}
	if err := mustString(data, netName.val, "name"); err != nil {
		return Edit{}, configError(name, data, err)
	}

	var b bytes.Buffer
	b.WriteString("{\n")
	if v, ok := c.member("cniVersion"); ok {
		fmt.Fprintf(&b, "  \"cniVersion\": %s,\n", data[v.val.start:v.val.end])
	}
	fmt.Fprintf(&b, "  \"name\": %s,\n", data[netName.val.start:netName.val.end])
	from, _ := json.Marshal(name)
	fmt.Fprintf(&b, "  %q: %s,\n", convertedFromKey, from)
	b.WriteString("  \"plugins\": [\n" + convertedIndent)
	// JSON strings cannot hold a raw newline, so every newline is layout and
	// indenting after it never changes a value.
	orig := bytes.TrimSpace(data)
	b.Write(bytes.ReplaceAll(orig, []byte("\n"), []byte("\n"+convertedIndent)))
	b.WriteString(",\n" + convertedIndent)
	b.Write(e.compact)
	b.WriteString("\n  ]\n}\n")
	if keepName {
		return Edit{Name: name, Data: b.Bytes(), Changed: true}, nil
	}
	return Edit{Name: conflistName(name), Data: b.Bytes(), Remove: name, Changed: true}, nil
}

// Remove returns the edit that takes podint out of the config in file name
// and, for a conflist podint made from a single-plugin file, puts that file back.
func Remove(name string, data []byte) (Edit, error) {
	if !isConflistName(name) && !convertedInPlace(name, data) {
		// podint only ever writes conflists.
		return Edit{Name: name, Data: data}, nil
	}
	c, err := parseConflist(data)
	if err != nil {
		return Edit{}, configError(name, data, err)
	}
	from, converted := c.member(convertedFromKey)
	idx := c.podintIndexes()
	if len(idx) == 0 && !converted {
		return Edit{Name: name, Data: data}, nil
	}
	if len(idx) == len(c.plugins) {
		return Edit{}, &ConfigError{File: name, Err: errors.New("holds no plugin but podint; delete the file if it is not needed")}
	}
	out := data
	for len(idx) > 0 {
		out = cutItem(out, c.plugins, idx[len(idx)-1])
		if c, err = parseConflist(out); err != nil {
			return Edit{}, configError(name, out, err)
		}
		idx = c.podintIndexes()
	}
	if !converted {
		return Edit{Name: name, Data: out, Changed: true}, nil
	}
	var orig string
	if json.Unmarshal(data[from.val.start:from.val.end], &orig) != nil || !isRestorable(name, orig) {
		return Edit{}, &ConfigError{File: name, Err: fmt.Errorf("%q is %s; podint writes the name of the file it converted, such as %s", convertedFromKey, data[from.val.start:from.val.end], strings.TrimSuffix(name, ".conflist")+".conf")}
	}
	if len(c.plugins) == 1 {
		p := c.plugins[0]
		restored := bytes.ReplaceAll(out[p.start:p.end], []byte("\n"+convertedIndent), []byte("\n"))
		edit := Edit{Name: orig, Data: append(restored, '\n'), Changed: true}
		if orig != name {
			edit.Remove = name
		}
		return edit, nil
	}
	// Someone chained more plugins since; the file cannot go back to a single
	// plugin, so it stays a conflist without podint's marker.
	for i, m := range c.members {
		if m.key == convertedFromKey {
			out = cutItem(out, wholes(c.members), i)
			break
		}
	}
	return Edit{Name: name, Data: out, Changed: true}, nil
}

// isRestorable guards uninstall from writing anywhere but the single-plugin
// file that the conflist was made from.
// The file may keep the original's name (InsertKeepingName).
func isRestorable(conflistFile, orig string) bool {
	ext := filepath.Ext(orig)
	return filepath.Base(orig) == orig && (ext == ".conf" || ext == ".json") && (conflistName(orig) == conflistFile || orig == conflistFile)
}

func wholes(ms []member) []span {
	s := make([]span, len(ms))
	for i, m := range ms {
		s[i] = m.whole
	}
	return s
}

// cutItem removes item i of a JSON list or object together with the comma and
// layout that separate it from its neighbours, undoing appendPlugin exactly.
func cutItem(data []byte, items []span, i int) []byte {
	switch {
	case i > 0:
		return splice(data, span{items[i-1].end, items[i].end}, nil)
	case len(items) > 1:
		return splice(data, span{items[0].start, items[1].start}, nil)
	default:
		return splice(data, items[0], nil)
	}
}

func splice(data []byte, s span, with []byte) []byte {
	out := make([]byte, 0, len(data)-(s.end-s.start)+len(with))
	out = append(out, data[:s.start]...)
	out = append(out, with...)
	return append(out, data[s.end:]...)
}
