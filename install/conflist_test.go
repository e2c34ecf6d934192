package install

import (
	"errors"
	"strings"
	"testing"
)

func mustEntry(t *testing.T, extra string) Entry {
	t.Helper()
	e, err := NewEntry([]byte(extra))
	if err != nil {
		t.Fatal(err)
	}
	return e
}

func TestNewEntry(t *testing.T) {
	for _, tc := range []struct {
		extra, want, wantErr string
	}{
		{extra: "", want: `{"type":"podint"}`},
		{extra: `{ "root": "/",  "failPolicy": "fail", "logFile": "/var/log/podint.log" }`, want: `{"type":"podint","root":"/","failPolicy":"fail","logFile":"/var/log/podint.log"}`},
		{extra: `{"type":"podint","attachMode":"tc"}`, want: `{"type":"podint","attachMode":"tc"}`},
		{extra: `{"type":"bridge"}`, wantErr: `sets "type" to "bridge"`},
		{extra: `["root"]`, wantErr: "not a JSON object"},
		{extra: `{"root":`, wantErr: "not a JSON object"},
	} {
		e, err := NewEntry([]byte(tc.extra))
		if tc.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("NewEntry(%s) error = %v, want one containing %q", tc.extra, err, tc.wantErr)
			}
			continue
		}
		if err != nil || string(e.JSON()) != tc.want {
			t.Errorf("NewEntry(%s) = %s, %v; want %s", tc.extra, e.JSON(), err, tc.want)
		}
	}
}

// A file the runtime could not run, or that podint cannot edit safely, is
// reported with its name and position and never rewritten.
func TestInsertRejectsBrokenConfigs(t *testing.T) {
	e := mustEntry(t, "")
	for _, tc := range []struct {
		name, file, data, wantErr string
	}{
		{"trailing comma", "10-a.conflist", "{\n  \"name\": \"a\",\n  \"plugins\": [{\"type\": \"bridge\"},]\n}\n", "10-a.conflist:3:"},
		{"not an object", "10-a.conflist", `["bridge"]`, `expected "{"`},
		{"no name", "10-a.conflist", `{"plugins":[{"type":"bridge"}]}`, `no "name"`},
		{"name not a string", "10-a.conflist", `{"name":7,"plugins":[{"type":"bridge"}]}`, `"name" is not a string`},
		{"no plugins", "10-a.conflist", `{"name":"a"}`, `no "plugins" list`},
		{"plugins not a list", "10-a.conflist", `{"name":"a","plugins":{"type":"bridge"}}`, `"plugins" is not a list`},
		{"empty plugins", "10-a.conflist", `{"name":"a","plugins":[]}`, `"plugins" is empty`},
		{"plugin without type", "10-a.conflist", `{"name":"a","plugins":[{"bridge":"cni0"}]}`, `plugin 0: no "type"`},
		{"duplicate key", "10-a.conflist", `{"name":"a","name":"b","plugins":[{"type":"bridge"}]}`, `duplicate key "name"`},
		{"data after the object", "10-a.conflist", `{"name":"a","plugins":[{"type":"bridge"}]} {}`, "unexpected data after"},
		{"empty file", "10-a.conflist", ``, "10-a.conflist:1:1: unexpected end of JSON input"},
		{"conf holding a list", "10-a.conf", `{"name":"a","plugins":[{"type":"bridge"}]}`, "rename it to 10-a.conflist"},
		{"conf without type", "10-a.conf", `{"name":"a","bridge":"cni0"}`, `no "type"`},
		{"conf without name", "10-a.conf", `{"type":"bridge"}`, `no "name"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			edit, err := Insert(tc.file, []byte(tc.data), e)
			var ce *ConfigError
			if !errors.As(err, &ce) || ce.File != tc.file || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("Insert error = %v (edit %+v), want a ConfigError for %s containing %q", err, edit, tc.file, tc.wantErr)
			}
			if !strings.Contains(err.Error(), "left the file unchanged") {
				t.Errorf("error %q does not tell the user the file was left alone", err)
			}
		})
	}
}

func TestInsertKeepsAnEqualEntry(t *testing.T) {
	data := []byte(`{"name":"a","plugins":[{"type":"bridge"},{ "failPolicy" : "ignore", "type": "podint" }]}`)
	edit, err := Insert("10-a.conflist", data, mustEntry(t, `{"failPolicy":"ignore"}`))
	if err != nil || edit.Changed || string(edit.Data) != string(data) {
		t.Fatalf("Insert = %+v, %v; want the file unchanged: its entry says the same in another layout", edit, err)
	}
	edit, err = Insert("10-a.conflist", data, mustEntry(t, `{"failPolicy":"fail"}`))
	want := `{"name":"a","plugins":[{"type":"bridge"},{"type":"podint","failPolicy":"fail"}]}`
	if err != nil || !edit.Changed || string(edit.Data) != want {
		t.Fatalf("Insert = %s, %v; want %s", edit.Data, err, want)
	}
}

func TestInsertDropsDuplicateEntries(t *testing.T) {
	data := []byte(`{"name":"a","plugins":[{"type":"podint","root":"/a"},{"type":"bridge"},{"type":"podint","root":"/b"}]}`)
	edit, err := Insert("10-a.conflist", data, mustEntry(t, ""))
	want := `{"name":"a","plugins":[{"type":"podint"},{"type":"bridge"}]}`
	if err != nil || string(edit.Data) != want {
		t.Fatalf("Insert = %s, %v; want %s", edit.Data, err, want)
	}
}

func TestRemoveFirstPlugin(t *testing.T) {
	data := []byte("{\"name\":\"a\",\"plugins\":[\n  {\"type\":\"podint\"},\n  {\"type\":\"bridge\"}\n]}")
	edit, err := Remove("10-a.conflist", data)
	want := "{\"name\":\"a\",\"plugins\":[\n  {\"type\":\"bridge\"}\n]}"
	if err != nil || string(edit.Data) != want {
		t.Fatalf("Remove = %q, %v; want %q", edit.Data, err, want)
	}
}

func TestRemoveOnlyPodint(t *testing.T) {
	_, err := Remove("10-a.conflist", []byte(`{"name":"a","plugins":[{"type":"podint"}]}`))
	var ce *ConfigError
	if !errors.As(err, &ce) || !strings.Contains(err.Error(), "no plugin but podint") {
		t.Fatalf("Remove error = %v, want a ConfigError: removing podint would leave an empty list", err)
	}
}

func TestRemoveConvertedAfterOthersChained(t *testing.T) {
	e := mustEntry(t, "")
	conv, err := Insert("10-b.conf", []byte(`{"name":"b","type":"bridge"}`), e)
	if err != nil {
		t.Fatal(err)
	}
	// Another chained plugin appended itself after podint.
	data := strings.Replace(string(conv.Data), `{"type":"podint"}`, `{"type":"podint"},{"type":"sbr"}`, 1)
	edit, err := Remove(conv.Name, []byte(data))
	if err != nil {
		t.Fatal(err)
	}
	if edit.Name != "10-b.conflist" || edit.Remove != "" {
		t.Fatalf("Remove = %+v; with sbr chained the file must stay 10-b.conflist", edit)
	}
	got := string(edit.Data)
	if strings.Contains(got, "podint") || !strings.Contains(got, `"sbr"`) || !strings.Contains(got, `"bridge"`) {
		t.Fatalf("Remove left %s; want bridge and sbr without podint or its marker", got)
	}
}

// The marker names the file uninstall writes, so it must not lead anywhere
// but the file the conflist was made from.
func TestRemoveRejectsForeignMarker(t *testing.T) {
	for _, from := range []string{"../../etc/cron.d/x.conf", "10-other.conf", "10-b.conflist", "/etc/cni/net.d/10-b.conf"} {
		data := `{"name":"b","podintConvertedFrom":"` + from + `","plugins":[{"type":"bridge","name":"b"},{"type":"podint"}]}`
		_, err := Remove("10-b.conflist", []byte(data))
		var ce *ConfigError
		if !errors.As(err, &ce) {
			t.Errorf("Remove with marker %q: error %v, want a ConfigError", from, err)
		}
	}
}

func TestRemoveLeavesOtherFilesAlone(t *testing.T) {
	for name, data := range map[string]string{
		"99-loopback.conf": `{"name":"lo","type":"loopback"}`,
		"10-a.conflist":    `{"name":"a","plugins":[{"type":"bridge"}]}`,
	} {
		edit, err := Remove(name, []byte(data))
		if err != nil || edit.Changed || string(edit.Data) != data {
			t.Errorf("Remove(%s) = %+v, %v; want it unchanged", name, edit, err)
		}
	}
}
