package install

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestCopyBinary(t *testing.T) {
	in := newTestInstaller(t)
	dst := filepath.Join(in.BinDir, PluginType)

	wrote, err := copyBinary(in.PluginBinary, in.BinDir)
	if err != nil || !wrote {
		t.Fatalf("copyBinary = %v, %v; want a write", wrote, err)
	}
	fi, err := os.Stat(dst)
	if err != nil || fi.Mode().Perm() != 0o755 {
		t.Fatalf("installed plugin: %v, %v; want mode 0755", fi, err)
	}

	wrote, err = copyBinary(in.PluginBinary, in.BinDir)
	if err != nil || wrote {
		t.Fatalf("second copyBinary = %v, %v; want no write for an identical binary", wrote, err)
	}

	// An upgrade replaces the binary.
	writeFile(t, filepath.Dir(in.PluginBinary), filepath.Base(in.PluginBinary), "v2")
	if wrote, err = copyBinary(in.PluginBinary, in.BinDir); err != nil || !wrote {
		t.Fatalf("copyBinary of a new version = %v, %v; want a write", wrote, err)
	}
	assertFile(t, in.BinDir, PluginType, "v2")

	entries, _ := os.ReadDir(in.BinDir)
	if len(entries) != 1 {
		t.Errorf("bin dir holds %d files, want only %s (no temporary files left)", len(entries), PluginType)
	}
}

func TestCopyBinaryNamesTheFix(t *testing.T) {
	in := newTestInstaller(t)
	if _, err := copyBinary(filepath.Join(in.BinDir, "missing"), in.BinDir); err == nil || !strings.Contains(err.Error(), "--plugin-binary") {
		t.Errorf("copyBinary of a missing binary: %v, want an error naming --plugin-binary", err)
	}
	if _, err := copyBinary(in.PluginBinary, filepath.Join(in.BinDir, "missing")); err == nil || !strings.Contains(err.Error(), "--cni-bin-dir") {
		t.Errorf("copyBinary into a missing dir: %v, want an error naming --cni-bin-dir", err)
	}
}

func TestTempFilesAreNeverConfigs(t *testing.T) {
	dir := t.TempDir()
	f, err := os.CreateTemp(dir, tempPattern)
	if err != nil {
		t.Fatal(err)
	}
	f.Close()
	if isConfigName(filepath.Base(f.Name())) {
		t.Fatalf("temporary file %s would be loaded by a runtime", f.Name())
	}
}

func TestRemoveDirs(t *testing.T) {
	in := newTestInstaller(t)
	pins := filepath.Join(t.TempDir(), "podint")
	if err := os.MkdirAll(filepath.Join(pins, "links"), 0o700); err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(pins, "links"), "veth1234", "")
	if err := in.RemoveDirs([]string{pins, filepath.Join(t.TempDir(), "never-created")}); err != nil {
		t.Fatal(err)
	}
	if fileExists(pins) {
		t.Fatalf("%s still exists after RemoveDirs", pins)
	}
}
