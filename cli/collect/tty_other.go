//go:build !linux

package collect

import "io"

// IsTerminal: elsewhere the table is printed once, at exit.
func IsTerminal(io.Writer) bool { return false }
