// Package tools owns the list of commands podint's build, tests, demo and
// benchmark run (commands.txt, from which `make deps` installs Debian
// packages) and checks that they are installed, so that a missing one is
// named with its fix up front rather than failing somewhere deep.
package tools

import (
	_ "embed"
	"fmt"
	"os"
	"os/exec"
	"strings"
)

//go:embed commands.txt
var commandsTxt string

// Command is one entry of commands.txt: a command looked up in PATH, or a
// file (an absolute path) that a package installs.
type Command struct {
	Name    string
	Package string
	UsedBy  string
}

// Installed reports whether the command is in PATH (or the file exists).
func (c Command) Installed() bool {
	if strings.HasPrefix(c.Name, "/") {
		_, err := os.Stat(c.Name)
		return err == nil
	}
	_, err := exec.LookPath(c.Name)
	return err == nil
}

func (c Command) String() string {
	return fmt.Sprintf("install %s (Debian package %s, for %s): run `make deps`", c.Name, c.Package, c.UsedBy)
}

// Commands returns every entry of commands.txt.
func Commands() []Command {
	var out []Command
	for _, line := range strings.Split(commandsTxt, "\n") {
		if line = strings.TrimSpace(line); line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		f := strings.Fields(line)
		if len(f) < 3 {
			panic(fmt.Sprintf("test/tools/commands.txt: %q: want command, package, use", line))
		}
		out = append(out, Command{Name: f[0], Package: f[1], UsedBy: strings.Join(f[2:], " ")})
	}
	return out
}

// Need returns an error naming every one of the given commands (all of
// them when none is given) that is not installed, with the fix. A name
// missing from commands.txt is an error too: the list must know it.
func Need(names ...string) error {
	all := Commands()
	want := all
	if len(names) > 0 {
		want = nil
		for _, n := range names {
			c, ok := lookup(all, n)
			if !ok {
				return fmt.Errorf("command %q is not in test/tools/commands.txt: add it with its Debian package", n)
			}
			want = append(want, c)
		}
	}
	var missing []string
	for _, c := range want {
		if !c.Installed() {
			missing = append(missing, c.String())
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("missing commands:\n  %s", strings.Join(missing, "\n  "))
	}
	return nil
}

func lookup(all []Command, name string) (Command, bool) {
	for _, c := range all {
		if c.Name == name {
			return c, true
		}
	}
	return Command{}, false
}
