package main

import (
	"bytes"
	"strings"
	"testing"
)

// Every command that talks to the daemon says, when none answers, which
// socket it tried and which flags choose another.
func TestUnreachableDaemonNamesTheSocketAndFlags(t *testing.T) {
	root := t.TempDir()
	for _, sub := range []string{"topology", "stats", "health", "probes", "watch"} {
		cmd := newRootCmd()
		var out bytes.Buffer
		cmd.SetOut(&out)
		cmd.SetErr(&out)
		cmd.SetArgs([]string{"--root", root, sub})
		err := cmd.Execute()
		if err == nil {
			t.Errorf("%s without a daemon: no error", sub)
			continue
		}
		want := "podintd is not reachable at " + root + "/run/podint/podint.sock (is podintd running? choose its instance with --root or its socket with --socket)"
		if !strings.Contains(err.Error(), want) {
			t.Errorf("%s: %v\nwant it to contain %q", sub, err, want)
		}
	}
}

func TestVersionFlag(t *testing.T) {
	cmd := newRootCmd()
	var out bytes.Buffer
	cmd.SetOut(&out)
	cmd.SetArgs([]string{"--version"})
	if err := cmd.Execute(); err != nil || !strings.Contains(out.String(), "podintctl version "+Version) {
		t.Fatalf("--version: %v %q", err, out.String())
	}
}
