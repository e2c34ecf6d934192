package instance

import "testing"

func TestDefaultsAndRoots(t *testing.T) {
	d := New("")
	if d.Socket != "/run/podint/podint.sock" || d.PinDir != "/sys/fs/bpf/podint" || d.StateDir != "/var/run/podint" {
		t.Fatalf("defaults changed: %+v", d)
	}
	p := New("/tmp/node1")
	if p.Socket != "/tmp/node1/run/podint/podint.sock" || p.PinDir != "/tmp/node1/sys/fs/bpf/podint" || p.StateDir != "/tmp/node1/var/run/podint" {
		t.Fatalf("rooted paths wrong: %+v", p)
	}
}
