package install

import (
	"bytes"
	"encoding/json"
	"testing"
)

// FuzzInsertRemove: whatever a file holds, editing never panics; an
// insert into a conflist yields valid JSON with exactly one podint entry,
// inserting again changes nothing, and removing restores the file byte for
// byte.
func FuzzInsertRemove(f *testing.F) {
	f.Add([]byte(`{"cniVersion":"1.0.0","name":"k8s","plugins":[{"type":"bridge"}]}`))
	f.Add([]byte(`{"cniVersion":"0.3.1","name":"cbr0","plugins":[{"type":"flannel","delegate":{"hairpinMode":true}},{"type":"portmap","capabilities":{"portMappings":true}}]}`))
	f.Add([]byte(`{"name":"x","plugins":[{"type":"podint","root":"/old"}]}`))
	f.Add([]byte(`{ "plugins" : [ ] }`))
	f.Add([]byte(`{"plugins":[{"type":"a"}],"plugins":[{"type":"b"}]}`))
	f.Add([]byte("not json"))
	e, err := NewEntry(nil)
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		ed, err := Insert("10-net.conflist", data, e)
		if err != nil {
			return // refused, with an error: the file is never written
		}
		var c struct {
			Plugins []struct {
				Type string `json:"type"`
			} `json:"plugins"`
		}
		if err := json.Unmarshal(ed.Data, &c); err != nil {
			t.Fatalf("insert produced invalid JSON: %v\n%s", err, ed.Data)
		}
		podints := 0
		for _, p := range c.Plugins {
			if p.Type == "podint" {
				podints++
			}
		}
		if podints != 1 {
			t.Fatalf("insert left %d podint entries:\n%s", podints, ed.Data)
		}
		again, err := Insert(ed.Name, ed.Data, e)
		if err != nil || again.Changed {
			t.Fatalf("second insert: changed %v err %v", again.Changed, err)
		}
		if bytes.Contains(data, []byte("podint")) {
			return // an older entry was replaced: removal cannot restore it
		}
		back, err := Remove(ed.Name, ed.Data)
		if err != nil {
			t.Fatalf("remove after insert: %v", err)
		}
		if !bytes.Equal(back.Data, data) {
			t.Fatalf("remove did not restore the file:\nwas %q\nnow %q", data, back.Data)
		}
	})
}
