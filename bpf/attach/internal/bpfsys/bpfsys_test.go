//go:build linux && (amd64 || arm64 || riscv64 || ppc64le || loong64)

package bpfsys

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
	"github.com/cilium/ebpf/link"
	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/podint/podint/internal/bpftest"
	"github.com/podint/podint/internal/nstest"
)

// The calls are held to cilium/ebpf's view of the same kernel objects:
// what podintd (which loads with cilium/ebpf) and the plugin (which links
// only this package) see must agree.

func passProgram(t *testing.T) *ebpf.Program {
	t.Helper()
	p, err := ebpf.NewProgram(&ebpf.ProgramSpec{Type: ebpf.SchedCLS, License: "GPL",
		Instructions: asm.Instructions{asm.Mov.Imm(asm.R0, -1), asm.Return()}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	return p
}

func pinned(t *testing.T, dir, name string, pin func(string) error) string {
	t.Helper()
	path := filepath.Join(dir, name)
	if err := pin(path); err != nil {
		t.Fatal(err)
	}
	return path
}

func veth(t *testing.T) int {
	t.Helper()
	nstest.EnterFresh(t)
	if err := netlink.LinkAdd(&netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: "v0"}, PeerName: "v1"}); err != nil {
		t.Fatal(err)
	}
	l, err := netlink.LinkByName("v0")
	if err != nil {
		t.Fatal(err)
	}
	return l.Attrs().Index
}

func TestOpenPinAndProgramID(t *testing.T) {
	bpftest.RequireRoot(t)
	dir := filepath.Dir(bpftest.TempPinDir(t))
	prog := passProgram(t)
	path := pinned(t, dir, "prog", prog.Pin)

	fd, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer fd.Close()
	info, _ := prog.Info()
	want, _ := info.ID()
	if got, err := ProgramID(fd); err != nil || got != uint32(want) {
		t.Errorf("ProgramID = %d, %v; cilium/ebpf says %d", got, err, want)
	}
	// A second pin of the same program, the first one left in place.
	if err := fd.Pin(filepath.Join(dir, "copy")); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{path, filepath.Join(dir, "copy")} {
		if _, err := os.Stat(p); err != nil {
			t.Errorf("pin %s: %v", p, err)
		}
	}
	if _, err := Open(filepath.Join(dir, "missing")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("Open of a missing pin: %v, want one that matches os.ErrNotExist", err)
	}
	fd.Close()
	if fd.Int() != -1 || fd.Close() != nil {
		t.Errorf("a closed FD: Int %d, a second Close must do nothing", fd.Int())
	}
}

func TestTCXLinks(t *testing.T) {
	bpftest.RequireRoot(t)
	dir := filepath.Dir(bpftest.TempPinDir(t))
	ifindex := veth(t)
	first, other, last := passProgram(t), passProgram(t), passProgram(t)
	open := func(p *ebpf.Program, name string) *FD {
		fd, err := Open(pinned(t, dir, name, p.Pin))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { fd.Close() })
		return fd
	}
	rival, err := link.AttachTCX(link.TCXOptions{Interface: ifindex, Program: other, Attach: ebpf.AttachTCXEgress})
	if err != nil {
		t.Fatal(err)
	}
	defer rival.Close()

	head, err := AttachTCX(open(first, "first"), ifindex, true, false)
	if err != nil {
		t.Fatal(err)
	}
	defer head.Close()
	tail, err := AttachTCX(open(last, "last"), ifindex, true, true)
	if err != nil {
		t.Fatal(err)
	}
	defer tail.Close()
	want := []ebpf.ProgramID{bpftest.ProgramID(t, first), bpftest.ProgramID(t, other), bpftest.ProgramID(t, last)}
	if got := bpftest.TCXPrograms(t, ifindex, ebpf.AttachTCXEgress); !slices.Equal(got, want) {
		t.Errorf("egress programs %v, want first, the rival's, last: %v", got, want)
	}
	if got := bpftest.TCXPrograms(t, ifindex, ebpf.AttachTCXIngress); len(got) != 0 {
		t.Errorf("ingress programs %v, want none", got)
	}
	if idx, err := TCXIfindex(head); err != nil || idx != ifindex {
		t.Errorf("TCXIfindex = %d, %v; want %d", idx, err, ifindex)
	}

	// Update swaps the program in place; Detach takes it off.
	newer := passProgram(t)
	if err := UpdateLink(head, open(newer, "newer").Int()); err != nil {
		t.Fatal(err)
	}
	if got := bpftest.TCXPrograms(t, ifindex, ebpf.AttachTCXEgress); got[0] != bpftest.ProgramID(t, newer) {
		t.Errorf("after UpdateLink: egress programs %v, want the new program first", got)
	}
	if err := DetachLink(tail); err != nil {
		t.Fatal(err)
	}
	if got := bpftest.TCXPrograms(t, ifindex, ebpf.AttachTCXEgress); len(got) != 2 {
		t.Errorf("after DetachLink: egress programs %v, want two", got)
	}
	if idx, err := TCXIfindex(tail); err != nil || idx != 0 {
		t.Errorf("TCXIfindex of a detached link = %d, %v; want 0", idx, err)
	}

	// On a kernel with TCX, an attach the kernel refuses for another
	// reason is not taken for a kernel without it.
	m, err := ebpf.NewMap(&ebpf.MapSpec{Type: ebpf.Array, KeySize: 4, ValueSize: 4, MaxEntries: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	mfd, err := Open(pinned(t, dir, "map", m.Pin))
	if err != nil {
		t.Fatal(err)
	}
	defer mfd.Close()
	if _, err := AttachTCX(mfd, ifindex, false, false); err == nil || errors.Is(err, ErrNoTCX) {
		t.Errorf("attaching a map: %v, want an error that is not ErrNoTCX", err)
	}
}

type key struct {
	A uint64
	B uint32
	_ uint32
}

func TestMap(t *testing.T) {
	bpftest.RequireRoot(t)
	dir := filepath.Dir(bpftest.TempPinDir(t))
	m, err := ebpf.NewMap(&ebpf.MapSpec{Type: ebpf.Hash, KeySize: 16, ValueSize: 4, MaxEntries: 64})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	path := pinned(t, dir, "ports", m.Pin)

	if _, err := OpenMap[key, uint64](path); err == nil {
		t.Error("a map opened with 8-byte values where it has 4-byte ones")
	}
	pm, err := OpenMap[key, uint32](path)
	if err != nil {
		t.Fatal(err)
	}
	defer pm.Close()
	for i := range uint32(10) {
		if err := pm.Put(key{A: uint64(i) << 40, B: i}, i*10); err != nil {
			t.Fatal(err)
		}
	}
	var got uint32
	if err := m.Lookup(key{A: 3 << 40, B: 3}, &got); err != nil || got != 30 {
		t.Errorf("cilium/ebpf reads %d, %v; want 30", got, err)
	}
	if v, err := pm.Lookup(key{A: 7 << 40, B: 7}); err != nil || v != 70 {
		t.Errorf("Lookup = %d, %v; want 70", v, err)
	}
	if _, err := pm.Lookup(key{A: 99}); !errors.Is(err, unix.ENOENT) {
		t.Errorf("Lookup of a missing key: %v, want ENOENT", err)
	}
	if err := pm.Delete(key{A: 99}); err != nil {
		t.Errorf("Delete of a missing key: %v, want none", err)
	}

	// Each sees every entry, also while it deletes them.
	seen := map[uint32]bool{}
	err = pm.Each(func(k key, v uint32) bool {
		if v != k.B*10 {
			t.Errorf("entry %+v has %d", k, v)
		}
		seen[k.B] = true
		return pm.Delete(k) == nil
	})
	if err != nil || len(seen) != 10 {
		t.Errorf("Each saw %d of 10 entries, %v", len(seen), err)
	}
	n := 0
	if err := pm.Each(func(key, uint32) bool { n++; return true }); err != nil || n != 0 {
		t.Errorf("Each after deleting all: %d entries, %v", n, err)
	}
}
