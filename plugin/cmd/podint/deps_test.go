package main

import (
	"os/exec"
	"strings"
	"testing"
)

// The plugin is exec'd on every pod ADD and DEL, and its start-up was most
// of what it added to them (issue 15): it links what its verbs need, and
// nothing of the daemon's side (the loader, gRPC, protobuf) or anything
// that brings costly package inits.
func TestPluginLinksNoDaemonSidePackage(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", ".").Output()
	if err != nil {
		t.Fatalf("go list -deps: %v", err)
	}
	forbidden := []string{
		"github.com/cilium/ebpf",     // the loader: internal/bpfsys makes the few bpf(2) calls
		"google.golang.org/grpc",     // internal/registration speaks lines of JSON
		"google.golang.org/protobuf", // the same
		"github.com/podint/podint/daemon",
		"github.com/podint/podint/bpf/", // only bpf/attach and bpf/pins
		"github.com/podint/podint/test",
		"encoding/xml", "go/parser", "debug/elf", "crypto/tls", "net/http",
	}
	allowed := []string{"github.com/podint/podint/bpf/attach", "github.com/podint/podint/bpf/pins"}
	for _, pkg := range strings.Fields(string(out)) {
		for _, f := range forbidden {
			if (pkg == f || strings.HasPrefix(pkg, strings.TrimSuffix(f, "/")+"/")) && !hasPrefixIn(pkg, allowed) {
				t.Errorf("the plugin links %s (forbidden: %s)", pkg, f)
			}
		}
	}
}

func hasPrefixIn(pkg string, prefixes []string) bool {
	for _, p := range prefixes {
		if pkg == p || strings.HasPrefix(pkg, p+"/") {
			return true
		}
	}
	return false
}
