package install

import (
	"bytes"
	"encoding/json"
	"fmt"
	"reflect"
)

// PluginType is the conflist "type" of podint's CNI plugin, and so the name of
// its binary in the CNI bin dir.
const PluginType = "podint"

// Entry is podint's element of a conflist's "plugins" list.
type Entry struct {
	compact []byte // what is written: "type" first, then the keys in the order given
}

// NewEntry builds the entry from a JSON object of extra plugin keys
// (for example {"root":"/","failPolicy":"ignore"}); nil or empty means none.
func NewEntry(extra []byte) (Entry, error) {
	var b bytes.Buffer
	b.WriteString(`{"type":"podint"`)
	if len(bytes.TrimSpace(extra)) > 0 {
		members, err := objectMembers(extra)
		if err != nil {
			return Entry{}, fmt.Errorf("plugin config %s is not a JSON object: %w; pass e.g. {\"failPolicy\":\"ignore\"}", extra, err)
		}
		for _, m := range members {
			val := extra[m.val.start:m.val.end]
			if m.key == "type" {
				if !bytes.Equal(val, []byte(`"podint"`)) {
					return Entry{}, fmt.Errorf("plugin config sets \"type\" to %s; podint's entry is always of type %q, remove the key", val, PluginType)
				}
				continue
			}
			key, _ := json.Marshal(m.key)
			b.WriteByte(',')
			b.Write(key)
			b.WriteByte(':')
			if err := json.Compact(&b, val); err != nil {
				return Entry{}, fmt.Errorf("plugin config key %q: %w", m.key, err)
			}
		}
	}
	b.WriteByte('}')
	return Entry{compact: b.Bytes()}, nil
}

// JSON returns the entry as written into a conflist.
func (e Entry) JSON() []byte { return bytes.Clone(e.compact) }

// sameAs reports whether raw, an element of a conflist, says what e says,
// whatever its key order or spacing, so that an unchanged entry is never rewritten.
func (e Entry) sameAs(raw []byte) bool {
	var want, got any
	if unmarshalNumbers(e.compact, &want) != nil || unmarshalNumbers(raw, &got) != nil {
		return false
	}
	return reflect.DeepEqual(want, got)
}

// unmarshalNumbers decodes JSON keeping numbers as written, so 1 and 1.0 differ
// exactly when the files differ.
func unmarshalNumbers(data []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	return dec.Decode(v)
}
