//go:build linux && (amd64 || arm64 || riscv64 || ppc64le || loong64)

// Package bpfsys makes the few bpf(2) calls the attach path needs on
// objects a daemon pinned: open and pin them, create, update, detach and
// describe TCX links, read a program's id, and read and write a map's
// entries. The CNI plugin is exec'd on every pod start and links only
// this; cilium/ebpf, which podintd loads its programs with, brought the
// plugin about 40 packages with init work (go/parser, encoding/xml,
// debug/elf, crypto) and 2 MB.
//
// The attributes follow union bpf_attr of include/uapi/linux/bpf.h; a
// pointer is an unsafe.Pointer field, so the garbage collector keeps what
// it points to alive, and 8 bytes wide on the architectures above.
package bpfsys

import (
	"errors"
	"fmt"
	"runtime"
	"unsafe"

	"golang.org/x/sys/unix"
)

// FD is an open bpf object: a program, a map or a link.
type FD struct{ raw int }

// Int is the descriptor, for netlink's cls_bpf filter; -1 once closed.
func (f *FD) Int() int {
	if f == nil {
		return -1
	}
	return f.raw
}

// Close closes the descriptor; closing twice does nothing.
func (f *FD) Close() error {
	if f == nil || f.raw < 0 {
		return nil
	}
	err := unix.Close(f.raw)
	f.raw = -1
	return err
}

// call runs bpf(cmd, attr, size of *attr). The kernel creates every object
// descriptor close-on-exec.
func call[A any](cmd int, name string, attr *A) (int, error) {
	r, _, errno := unix.Syscall(unix.SYS_BPF, uintptr(cmd), uintptr(unsafe.Pointer(attr)), unsafe.Sizeof(*attr))
	runtime.KeepAlive(attr)
	if errno != 0 {
		return -1, fmt.Errorf("bpf %s: %w", name, errno)
	}
	return int(r), nil
}

// objAttr is bpf_attr's BPF_OBJ_PIN / BPF_OBJ_GET part.
type objAttr struct {
	pathname  unsafe.Pointer
	bpfFD     uint32
	fileFlags uint32
	pathFD    int32
	_         uint32
}

func cPath(path string) (unsafe.Pointer, error) {
	b, err := unix.BytePtrFromString(path)
	if err != nil {
		return nil, fmt.Errorf("path %q: %w", path, err)
	}
	return unsafe.Pointer(b), nil
}

// Open opens the object pinned at path. A missing pin is an error that
// matches os.ErrNotExist.
func Open(path string) (*FD, error) {
	p, err := cPath(path)
	if err != nil {
		return nil, err
	}
	fd, err := call(unix.BPF_OBJ_GET, "OBJ_GET", &objAttr{pathname: p})
	if err != nil {
		return nil, err
	}
	return &FD{raw: fd}, nil
}

// Pin pins the object at path, a new name in a bpffs; the object stays
// open here too.
func (f *FD) Pin(path string) error {
	if f == nil || f.raw < 0 {
		return errors.New("object is closed")
	}
	return PinFD(f.raw, path)
}

// PinFD pins the object open as fd (one a loader opened) at path.
func PinFD(fd int, path string) error {
	p, err := cPath(path)
	if err != nil {
		return err
	}
	_, err = call(unix.BPF_OBJ_PIN, "OBJ_PIN", &objAttr{pathname: p, bpfFD: uint32(fd)})
	return err
}

// infoAttr is bpf_attr's BPF_OBJ_GET_INFO_BY_FD part.
type infoAttr struct {
	bpfFD   uint32
	infoLen uint32
	info    unsafe.Pointer
}

// info fills *out, a leading part of the object's bpf_*_info: the kernel
// fills as much of its struct as the caller asks for.
func info[I any](f *FD, out *I) error {
	_, err := call(unix.BPF_OBJ_GET_INFO_BY_FD, "OBJ_GET_INFO_BY_FD",
		&infoAttr{bpfFD: uint32(f.raw), infoLen: uint32(unsafe.Sizeof(*out)), info: unsafe.Pointer(out)})
	return err
}

// progInfo is the start of struct bpf_prog_info.
type progInfo struct {
	typ uint32
	id  uint32
}

// ProgramID is the kernel's id of the program f, the one tc shows for a
// cls_bpf filter.
func ProgramID(f *FD) (uint32, error) {
	var pi progInfo
	if err := info(f, &pi); err != nil {
		return 0, err
	}
	return pi.id, nil
}
