//go:build !linux

package collect

import "io"

// isTerminal: elsewhere the table is printed once, at exit.
func isTerminal(io.Writer) bool { return false }
