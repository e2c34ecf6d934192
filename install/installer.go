// Package install puts podint into a node's CNI setup and takes it out again:
// it copies the plugin binary into the CNI bin dir, chains podint's entry into
// the primary CNI's config (conflist.go edits bytes, confdir.go picks the file),
// keeps it there while the primary rewrites its file (watch.go), and removes
// both on uninstall. It runs in the podint-install container of the DaemonSet.
package install

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"sync/atomic"
	"syscall"
)

// Installer installs podint into one node's CNI directories.
type Installer struct {
	BinDir       string // the runtime's CNI bin dir, as mounted here
	ConfDir      string // the runtime's CNI conf dir, as mounted here
	PluginBinary string // the podint plugin binary to copy
	Entry        Entry
	// ReadByMultus says Multus, not the runtime, reads ConfDir (OpenShift's
	// /run/multus/cni/net.d): files keep their names when they become conflists.
	ReadByMultus bool
	// PodSide chooses the plugin's pod-side probe ("podSide"): auto (""),
	// decided per primary CNI (podside.go), or the operator's true or false.
	PodSide PodSide
	Log     *slog.Logger

	podSideSaid string // the last pod-side choice logged

	writes     atomic.Int64      // config files written, so tests can see podint ignores its own writes
	afterStart func()            // called by Run once it watches and made its first pass, for tests
	afterEvent func(name string) // called by Run after each event, for tests
}

func (in *Installer) log() *slog.Logger {
	if in.Log == nil {
		return slog.Default()
	}
	return in.Log
}

// CopyBinary installs the plugin binary into the CNI bin dir.
func (in *Installer) CopyBinary() error {
	wrote, err := copyBinary(in.PluginBinary, in.BinDir)
	if err != nil {
		return err
	}
	if wrote {
		in.log().Info("installed the plugin binary", "path", filepath.Join(in.BinDir, PluginType))
	}
	return nil
}

// Insert chains podint into the primary CNI's config once. It returns an error
// wrapping ErrNoConfig while there is nothing to chain into, and a *ConfigError
// for a file it cannot edit, which it leaves untouched.
func (in *Installer) Insert() (Target, error) {
	// The primary may rewrite its file between podint's read and write; a second
	// pass then starts from the new content (see writeIfUnchanged).
	for attempt := 0; ; attempt++ {
		t, err := in.insertOnce()
		if errors.Is(err, errChangedMeanwhile) && attempt < 3 {
			continue
		}
		return t, err
	}
}

var errChangedMeanwhile = errors.New("the file changed while podint edited it")

func (in *Installer) insertOnce() (Target, error) {
	names, err := configNames(in.ConfDir)
	if err != nil {
		return Target{}, err
	}
	t, err := findTarget(names, in.read)
	if err != nil {
		return Target{}, err
	}
	data, owner, err := in.readForEdit(t.File)
	if err != nil {
		return t, err
	}
	insert := Insert
	if in.ReadByMultus || t.File != t.Active {
		// Multus reads the file, perhaps by the name in its own config.
		insert = InsertKeepingName
	}
	entry, choice := in.entryFor(chainTypes(t.File, data))
	edit, err := insert(t.File, data, entry)
	if err == nil {
		in.logPodSide(t.File, choice)
	}
	if err != nil || !edit.Changed {
		return t, err
	}
	if edit.Remove != "" && !renameKeepsOrder(names, edit.Remove, edit.Name) {
		return t, &ConfigError{File: t.File, Err: fmt.Errorf("converting it to %s would let another config sort before it and take over; rename that config", edit.Name)}
	}
	if err := in.writeIfUnchanged(t.File, data, edit, owner); err != nil {
		return t, err
	}
	in.log().Info("chained podint into the CNI config", "file", filepath.Join(in.ConfDir, edit.Name), "active", t.Active)
	return t, nil
}

// writeIfUnchanged applies edit unless the file no longer holds read, which
// narrows the window in which podint could overwrite a concurrent rewrite by
// the primary to the instant between this check and the rename. A rewrite after
// the rename is an event of its own, after which podint inserts again.
func (in *Installer) writeIfUnchanged(file string, read []byte, edit Edit, owner fileOwner) error {
	now, err := os.ReadFile(filepath.Join(in.ConfDir, file))
	if err != nil || !bytes.Equal(now, read) {
		return errChangedMeanwhile
	}
	if err := writeFileAtomic(filepath.Join(in.ConfDir, edit.Name), edit.Data, owner); err != nil {
		return err
	}
	in.writes.Add(1)
	if edit.Remove != "" {
		return removeFile(filepath.Join(in.ConfDir, edit.Remove))
	}
	return nil
}

func (in *Installer) read(name string) ([]byte, error) {
	data, err := os.ReadFile(filepath.Join(in.ConfDir, name))
	if err != nil {
		return nil, fmt.Errorf("reading CNI config: %w", err)
	}
	return data, nil
}

// readForEdit reads a config podint is about to rewrite, with the mode and
// owner the rewrite keeps.
func (in *Installer) readForEdit(name string) ([]byte, fileOwner, error) {
	path := filepath.Join(in.ConfDir, name)
	fi, err := os.Lstat(path)
	if err != nil {
		return nil, fileOwner{}, fmt.Errorf("reading CNI config: %w", err)
	}
	if fi.Mode()&fs.ModeSymlink != 0 {
		// Renaming over a link would replace the link, not the file it names.
		return nil, fileOwner{}, &ConfigError{File: name, Err: errors.New("is a symbolic link; podint edits regular files only, point --cni-conf-dir at the directory of the link's target")}
	}
	data, err := in.read(name)
	return data, ownerOf(fi), err
}

// Uninstall takes podint out of every config in the conf dir, restores the
// single-plugin files podint converted, and then deletes the plugin binary.
// The binary goes last: a config that still names podint needs it to create pods.
func (in *Installer) Uninstall() error {
	names, err := configNames(in.ConfDir)
	if err != nil {
		return err
	}
	for _, name := range names {
		if err := in.removeFrom(name); err != nil {
			var ce *ConfigError
			if !errors.As(err, &ce) {
				return fmt.Errorf("uninstall stopped before deleting the plugin binary: %w", err)
			}
			// The runtime cannot load a file podint cannot parse, so it cannot
			// run podint from it either; report it and go on.
			in.log().Warn("left a CNI config as it is", "err", err)
		}
	}
	if err := removeBinary(in.BinDir); err != nil {
		return err
	}
	in.log().Info("removed the plugin binary", "path", filepath.Join(in.BinDir, PluginType))
	return nil
}

func (in *Installer) removeFrom(name string) error {
	data, owner, err := in.readForEdit(name)
	if err != nil {
		return err
	}
	edit, err := Remove(name, data)
	if err != nil || !edit.Changed {
		return err
	}
	path := filepath.Join(in.ConfDir, edit.Name)
	if edit.Name != name && fileExists(path) {
		// The primary wrote its single-plugin file again since podint converted
		// it; that newer file is the one to keep.
		in.log().Info("kept the primary's newer config", "file", path)
	} else {
		if err := writeFileAtomic(path, edit.Data, owner); err != nil {
			return err
		}
		in.writes.Add(1)
	}
	if edit.Remove != "" {
		if err := removeFile(filepath.Join(in.ConfDir, edit.Remove)); err != nil {
			return err
		}
	}
	in.log().Info("removed podint from the CNI config", "file", path)
	return nil
}

func fileExists(path string) bool {
	_, err := os.Lstat(path)
	return err == nil
}

// RemoveDirs deletes podint's directories on the host, such as its pin
// directory on the bpffs (unpinning the links detaches the probes from pod
// interfaces) and its socket directory. A directory that is a mount point
// keeps existing, emptied.
func (in *Installer) RemoveDirs(dirs []string) error {
	for _, d := range dirs {
		err := os.RemoveAll(d)
		if errors.Is(err, syscall.EBUSY) {
			in.log().Info("emptied a mount point", "dir", d)
			continue
		}
		if err != nil {
			return fmt.Errorf("removing podint's directory: %w", err)
		}
		in.log().Info("removed podint's directory", "dir", d)
	}
	return nil
}
