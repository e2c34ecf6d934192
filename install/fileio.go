package install

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"
)

// tempPattern names podint's temporary files. They end in ".tmp", never in
// .conf, .conflist or .json, so a runtime listing the conf dir never loads a
// half-written file.
const tempPattern = ".podint-*.tmp"

// fileOwner is the mode and owner a rewritten file keeps.
type fileOwner struct {
	mode     fs.FileMode
	uid, gid int
}

func ownerOf(fi fs.FileInfo) fileOwner {
	o := fileOwner{mode: fi.Mode().Perm(), uid: -1, gid: -1}
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		o.uid, o.gid = int(st.Uid), int(st.Gid)
	}
	return o
}

// writeFileAtomic replaces path with data so that a reader sees either the
// old or the new file, never a part of one: a temporary file in the same
// directory (rename is atomic only within a file system) is synced and then
// renamed over path, and the directory is synced so the rename survives a crash.
func writeFileAtomic(path string, data []byte, o fileOwner) (err error) {
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, tempPattern)
	if err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	tmp := f.Name()
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(tmp)
		}
	}()
	if _, err = f.Write(data); err != nil {
		return fmt.Errorf("writing %s: %w", tmp, err)
	}
	// Chmod after creation: CreateTemp's 0600 and the umask must not decide the mode.
	if err = f.Chmod(o.mode); err != nil {
		return fmt.Errorf("setting mode of %s: %w", tmp, err)
	}
	if o.uid >= 0 && (o.uid != os.Getuid() || o.gid != os.Getgid()) {
		if err = f.Chown(o.uid, o.gid); err != nil {
			return fmt.Errorf("setting owner of %s: %w", tmp, err)
		}
	}
	if err = f.Sync(); err != nil {
		return fmt.Errorf("syncing %s: %w", tmp, err)
	}
	if err = f.Close(); err != nil {
		return fmt.Errorf("closing %s: %w", tmp, err)
	}
	if err = os.Rename(tmp, path); err != nil {
		return fmt.Errorf("replacing %s: %w", path, err)
	}
	return syncDir(dir)
}

// removeFile deletes path; a file already gone is not an error.
func removeFile(path string) error {
	if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("removing %s: %w", path, err)
	}
	return syncDir(filepath.Dir(path))
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("syncing directory %s: %w", dir, err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("syncing directory %s: %w", dir, err)
	}
	return nil
}
