//go:build linux && (amd64 || arm64 || riscv64 || ppc64le || loong64)

package bpfsys

import (
	"errors"
	"fmt"
	"unsafe"

	"golang.org/x/sys/unix"
)

// mapElemAttr is bpf_attr's part for the BPF_MAP_*_ELEM commands.
type mapElemAttr struct {
	mapFD uint32
	_     uint32
	key   unsafe.Pointer
	value unsafe.Pointer // next_key for BPF_MAP_GET_NEXT_KEY
	flags uint64
}

// Map is a pinned map with keys K and values V (not a per-CPU map).
type Map[K, V any] struct {
	fd         *FD
	maxEntries uint32
}

// mapInfo is the start of struct bpf_map_info.
type mapInfo struct {
	typ        uint32
	id         uint32
	keySize    uint32
	valueSize  uint32
	maxEntries uint32
}

// OpenMap opens the map pinned at path. Its key and value sizes must be
// K's and V's: the kernel copies its sizes in and out of them.
func OpenMap[K, V any](path string) (*Map[K, V], error) {
	fd, err := Open(path)
	if err != nil {
		return nil, err
	}
	var mi mapInfo
	if err := info(fd, &mi); err != nil {
		fd.Close()
		return nil, err
	}
	var (
		k K
		v V
	)
	if uintptr(mi.keySize) != unsafe.Sizeof(k) || uintptr(mi.valueSize) != unsafe.Sizeof(v) {
		fd.Close()
		return nil, fmt.Errorf("map has %d-byte keys and %d-byte values, this program %d and %d: its podintd is of another version",
			mi.keySize, mi.valueSize, unsafe.Sizeof(k), unsafe.Sizeof(v))
	}
	return &Map[K, V]{fd: fd, maxEntries: mi.maxEntries}, nil
}

// Close closes the map.
func (m *Map[K, V]) Close() error { return m.fd.Close() }

// Lookup reads k's value; a missing key matches unix.ENOENT.
func (m *Map[K, V]) Lookup(k K) (V, error) {
	var v V
	_, err := call(unix.BPF_MAP_LOOKUP_ELEM, "MAP_LOOKUP_ELEM", &mapElemAttr{mapFD: uint32(m.fd.raw), key: unsafe.Pointer(&k), value: unsafe.Pointer(&v)})
	return v, err
}

// Put sets k's value, creating or replacing the entry.
func (m *Map[K, V]) Put(k K, v V) error {
	_, err := call(unix.BPF_MAP_UPDATE_ELEM, "MAP_UPDATE_ELEM", &mapElemAttr{mapFD: uint32(m.fd.raw), key: unsafe.Pointer(&k), value: unsafe.Pointer(&v)})
	return err
}

// Delete removes k's entry; a missing key is no error.
func (m *Map[K, V]) Delete(k K) error {
	_, err := call(unix.BPF_MAP_DELETE_ELEM, "MAP_DELETE_ELEM", &mapElemAttr{mapFD: uint32(m.fd.raw), key: unsafe.Pointer(&k)})
	if errors.Is(err, unix.ENOENT) {
		return nil
	}
	return err
}

// Each calls f for every entry, until f returns false. Entries deleted
// meanwhile are skipped; if the key Each stands on is deleted, the
// kernel's walk starts over (a hash map's rule), so f may see an entry
// twice, and a walk that keeps starting over ends with an error.
func (m *Map[K, V]) Each(f func(K, V) bool) error {
	var (
		k, next K
		keyPtr  unsafe.Pointer // nil: the first key
	)
	for steps := uint64(0); ; steps++ {
		if steps > 4*uint64(m.maxEntries)+16 {
			return fmt.Errorf("map walk past %d steps for %d entries at most: entries are deleted faster than it reads", steps, m.maxEntries)
		}
		_, err := call(unix.BPF_MAP_GET_NEXT_KEY, "MAP_GET_NEXT_KEY", &mapElemAttr{mapFD: uint32(m.fd.raw), key: keyPtr, value: unsafe.Pointer(&next)})
		if errors.Is(err, unix.ENOENT) {
			return nil // past the last key
		}
		if err != nil {
			return err
		}
		k, keyPtr = next, unsafe.Pointer(&k)
		v, err := m.Lookup(k)
		if errors.Is(err, unix.ENOENT) {
			continue // deleted since
		}
		if err != nil {
			return err
		}
		if !f(k, v) {
			return nil
		}
	}
}
