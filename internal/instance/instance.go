// Package instance derives every path a podint node instance owns from one
// root directory, so that several simulated nodes can share a machine and
// tests never touch the defaults.
package instance

import "path/filepath"

// DefaultRoot is the root of a real node's instance.
const DefaultRoot = "/"

// Paths are the locations owned by one node instance.
type Paths struct {
	Root     string
	Socket   string // gRPC unix socket
	PinDir   string // bpffs directory for programs, maps and links
	StateDir string // registrations and other daemon state
	// PendingDir holds registrations the CNI plugin could not deliver
	// (<probe id>.json, a protojson Probe); the daemon takes them in at start.
	PendingDir string
}

// New returns the paths of the instance rooted at root ("" means DefaultRoot).
func New(root string) Paths {
	if root == "" {
		root = DefaultRoot
	}
	return Paths{
		Root:     root,
		Socket:   filepath.Join(root, "run/podint/podint.sock"),
		PinDir:   filepath.Join(root, "sys/fs/bpf/podint"),
		StateDir: filepath.Join(root, "var/run/podint"),
		// Inside StateDir, where the plugin has always written them.
		PendingDir: filepath.Join(root, "var/run/podint/pending"),
	}
}
