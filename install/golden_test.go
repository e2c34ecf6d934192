package install

import (
	"bytes"
	"errors"
	"flag"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the want/ trees of testdata/golden from the current output")

// The mode every golden input gets, so the tests see that rewrites keep it
// (git keeps no modes but the executable bit).
const goldenMode fs.FileMode = 0o640

// TestGolden installs podint into real-world conf dirs (testdata/golden/CASE/in)
// and compares the result with want/ byte for byte; then installs again and
// expects no write; then uninstalls and expects in/ back byte for byte (or
// uninstalled/, when the input held an older podint entry). A case with a
// want.err file must fail with that message and leave in/ untouched.
// A case runs with the --pod-side its pod-side file holds (default auto)
// and the --plugin-config its plugin-config file holds; its want.log holds
// what the installer's pod-side log line must say.
func TestGolden(t *testing.T) {
	cases, err := os.ReadDir("testdata/golden")
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range cases {
		t.Run(c.Name(), func(t *testing.T) {
			caseDir := filepath.Join("testdata/golden", c.Name())
			in := newTestInstaller(t)
			var log bytes.Buffer
			in.Log = slog.New(slog.NewTextHandler(io.MultiWriter(testLogWriter{t}, &log), nil))
			if b, err := os.ReadFile(filepath.Join(caseDir, "pod-side")); err == nil {
				if in.PodSide, err = ParsePodSide(string(b)); err != nil {
					t.Fatal(err)
				}
			}
			if b, err := os.ReadFile(filepath.Join(caseDir, "plugin-config")); err == nil {
				if in.Entry, err = NewEntry(b); err != nil {
					t.Fatal(err)
				}
			}
			if err := CheckPodSide(in.PodSide, in.Entry); err != nil {
				t.Fatal(err)
			}
			copyTree(t, filepath.Join(caseDir, "in"), in.ConfDir)

			if wantErr, err := os.ReadFile(filepath.Join(caseDir, "want.err")); err == nil {
				_, err := in.Insert()
				var ce *ConfigError
				if !errors.As(err, &ce) || !strings.Contains(err.Error(), strings.TrimSpace(string(wantErr))) {
					t.Fatalf("Insert() error = %v, want a ConfigError containing %q", err, wantErr)
				}
				assertTree(t, in.ConfDir, filepath.Join(caseDir, "in"))
				return
			}

			if err := in.CopyBinary(); err != nil {
				t.Fatal(err)
			}
			if _, err := in.Insert(); err != nil {
				t.Fatalf("Insert: %v", err)
			}
			want := filepath.Join(caseDir, "want")
			if *update {
				os.RemoveAll(want)
				copyTree(t, in.ConfDir, want)
			}
			assertTree(t, in.ConfDir, want)
			assertModes(t, in.ConfDir)
			assertPodSideLog(t, log.String(), filepath.Join(caseDir, "want.log"))

			writes := in.writes.Load()
			if _, err := in.Insert(); err != nil {
				t.Fatalf("second Insert: %v", err)
			}
			if in.writes.Load() != writes {
				t.Errorf("second Insert wrote a config again; want no write when podint is already chained in")
			}
			assertTree(t, in.ConfDir, want)

			if err := in.Uninstall(); err != nil {
				t.Fatalf("Uninstall: %v", err)
			}
			restored := filepath.Join(caseDir, "uninstalled")
			if _, err := os.Stat(restored); err != nil {
				restored = filepath.Join(caseDir, "in")
			}
			assertTree(t, in.ConfDir, restored)
			assertModes(t, in.ConfDir)
			if _, err := os.Stat(filepath.Join(in.BinDir, PluginType)); !errors.Is(err, fs.ErrNotExist) {
				t.Errorf("plugin binary still in the bin dir after Uninstall (stat error %v)", err)
			}
		})
	}
}

// assertPodSideLog checks the installer logged its pod-side choice once,
// saying what the file wantFile holds.
func assertPodSideLog(t *testing.T, log, wantFile string) {
	t.Helper()
	var lines []string
	for _, l := range strings.Split(log, "\n") {
		if strings.Contains(l, `msg="pod-side probes"`) {
			lines = append(lines, l)
		}
	}
	if len(lines) != 1 {
		t.Fatalf("pod-side log lines %q, want one", lines)
	}
	if *update {
		if err := os.WriteFile(wantFile, []byte(lines[0][strings.Index(lines[0], " on=")+1:]+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(wantFile)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasSuffix(lines[0], " "+strings.TrimSpace(string(want))) {
		t.Errorf("pod-side log line %q, want it to end in %q", lines[0], want)
	}
}

func newTestInstaller(t *testing.T) *Installer {
	t.Helper()
	dir := t.TempDir()
	in := &Installer{
		BinDir:       filepath.Join(dir, "bin"),
		ConfDir:      filepath.Join(dir, "net.d"),
		PluginBinary: filepath.Join(dir, "podint-plugin"),
		Log:          slog.New(slog.NewTextHandler(testLogWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug})),
	}
	for _, d := range []string{in.BinDir, in.ConfDir} {
		if err := os.Mkdir(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(in.PluginBinary, []byte("#!/bin/sh\necho podint\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	var err error
	if in.Entry, err = NewEntry([]byte(`{"root":"/","failPolicy":"ignore"}`)); err != nil {
		t.Fatal(err)
	}
	return in
}

// testLogWriter sends the installer's log to the test's log, shown on failure.
type testLogWriter struct{ t *testing.T }

func (w testLogWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// copyTree copies the regular files under src to dst, giving config files goldenMode.
func copyTree(t *testing.T, src, dst string) {
	t.Helper()
	err := filepath.WalkDir(src, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, path)
		target := filepath.Join(dst, rel)
		if d.IsDir() {
			return os.MkdirAll(target, 0o755)
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		if err := os.WriteFile(target, data, goldenMode); err != nil {
			return err
		}
		return os.Chmod(target, goldenMode)
	})
	if err != nil {
		t.Fatal(err)
	}
}

// assertTree fails unless dir holds exactly the files of want, byte for byte.
func assertTree(t *testing.T, dir, want string) {
	t.Helper()
	got, wantFiles := readTree(t, dir), readTree(t, want)
	for name, w := range wantFiles {
		g, ok := got[name]
		switch {
		case !ok:
			t.Errorf("%s missing; want it as in %s", name, want)
		case !bytes.Equal(g, w):
			t.Errorf("%s differs from %s:\n--- got\n%s\n--- want\n%s", name, want, g, w)
		}
	}
	for name := range got {
		if _, ok := wantFiles[name]; !ok {
			t.Errorf("unexpected file %s (not in %s)", name, want)
		}
	}
}

func readTree(t *testing.T, dir string) map[string][]byte {
	t.Helper()
	files := map[string][]byte{}
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(dir, path)
		files[rel], err = os.ReadFile(path)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return files
}

func assertModes(t *testing.T, dir string) {
	t.Helper()
	names, err := configNames(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range names {
		fi, err := os.Stat(filepath.Join(dir, n))
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm() != goldenMode {
			t.Errorf("%s has mode %v, want the primary's %v", n, fi.Mode().Perm(), goldenMode)
		}
	}
}

func writeFile(t *testing.T, dir, name, data string) {
	t.Helper()
	if err := os.WriteFile(filepath.Join(dir, name), []byte(data), 0o644); err != nil {
		t.Fatal(err)
	}
}

func assertFile(t *testing.T, dir, name, want string) {
	t.Helper()
	got, err := os.ReadFile(filepath.Join(dir, name))
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	if string(got) != want {
		t.Fatalf("%s holds\n%s\nwant\n%s", name, got, want)
	}
}

func symlink(t *testing.T, target, dir, name string) {
	t.Helper()
	if err := os.Symlink(target, filepath.Join(dir, name)); err != nil {
		t.Fatal(err)
	}
}
