package main

import (
	"fmt"
	"os/exec"
	"strings"
)

// runCmd runs a command, returning its output in the error when it fails.
func runCmd(args ...string) error {
	if out, err := exec.Command(args[0], args[1:]...).CombinedOutput(); err != nil {
		return fmt.Errorf("%s: %v: %s", strings.Join(args, " "), err, out)
	}
	return nil
}
