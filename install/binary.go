package install

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// binaryMode lets the runtime (root) and anyone else execute the plugin, as
// the reference plugins are installed.
const binaryMode fs.FileMode = 0o755

// copyBinary puts the plugin binary src into binDir under the plugin's type
// name. A runtime may exec the plugin at any moment, so the file is replaced
// atomically and never seen half-written. It reports whether it wrote; an
// identical binary already in place is left alone.
func copyBinary(src, binDir string) (bool, error) {
	data, err := os.ReadFile(src)
	if err != nil {
		return false, fmt.Errorf("reading the plugin binary: %w; set --plugin-binary to the podint CNI plugin", err)
	}
	if _, err := os.Stat(binDir); err != nil {
		return false, fmt.Errorf("CNI bin dir: %w; check --cni-bin-dir and the hostPath mount", err)
	}
	dst := filepath.Join(binDir, PluginType)
	old, err := os.ReadFile(dst)
	if err == nil && bytes.Equal(old, data) {
		if fi, err := os.Stat(dst); err == nil && fi.Mode().Perm() == binaryMode {
			return false, nil
		}
	} else if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return false, fmt.Errorf("reading the installed plugin: %w", err)
	}
	if err := writeFileAtomic(dst, data, fileOwner{mode: binaryMode, uid: -1, gid: -1}); err != nil {
		return false, fmt.Errorf("installing the plugin binary: %w", err)
	}
	return true, nil
}

// removeBinary deletes the plugin binary from binDir.
func removeBinary(binDir string) error {
	return removeFile(filepath.Join(binDir, PluginType))
}
