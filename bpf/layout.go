package bpf

import (
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/btf"

	"github.com/podint/podint/bpf/pins"
)

// A pinned map is kept across an upgrade only if the new programs read its
// contents as the old ones wrote them. The kernel checks the map's type,
// key and value sizes, size and flags; a map whose value changed its
// fields but not its size passes that check and would be misread. So each
// pinned map's layout, a hash of the C types of its key and value (their
// fields, offsets and sizes; for the ring buffer, struct event), is
// recorded in the pin directory when the map is pinned, and a map whose
// recorded layout differs from the programs' is replaced (migrate.go).

// layoutRevision marks a change of a map's meaning that leaves its types
// as they were (a different hash of the flow table's sets, a counter
// renumbered in place): bump the map's entry, and an upgrade replaces it.
var layoutRevision = map[string]string{}

// recordTypes are the types a map's contents are read as, besides its key
// and value: the ring buffer's records are struct event, which the daemon
// decodes.
var recordTypes = map[string]string{"events": "event"}

// layoutHash is what a map spec's contents mean: a hash of its type and of
// the canonical form of its key, value and record types.
type layoutHash [sha256.Size]byte

func mapLayout(spec *ebpf.CollectionSpec, name string) (layoutHash, error) {
	ms := spec.Maps[name]
	h := sha256.New()
	fmt.Fprintf(h, "map %s rev %q\n", ms.Type, layoutRevision[name])
	for _, part := range []struct {
		what string
		typ  btf.Type
		size uint32
	}{{"key", ms.Key, ms.KeySize}, {"value", ms.Value, ms.ValueSize}} {
		fmt.Fprintf(h, "%s ", part.what)
		if part.typ == nil {
			fmt.Fprintf(h, "%d bytes\n", part.size)
			continue
		}
		writeType(h, part.typ, 0)
		io.WriteString(h, "\n")
	}
	if rec, ok := recordTypes[name]; ok {
		t, err := spec.Types.AnyTypeByName(rec)
		if err != nil {
			return layoutHash{}, fmt.Errorf("type %s of map %s: %w", rec, name, err)
		}
		io.WriteString(h, "record ")
		writeType(h, t, 0)
	}
	var out layoutHash
	h.Sum(out[:0])
	return out, nil
}

// writeType writes the canonical form of t: what a reader of its bytes
// depends on (names, sizes, offsets, encodings), not how the compiler
// numbered the types.
func writeType(w io.Writer, t btf.Type, depth int) {
	if depth > 16 {
		io.WriteString(w, "…")
		return
	}
	switch t := t.(type) {
	case *btf.Int:
		fmt.Fprintf(w, "int(%d,%d)", t.Size, t.Encoding)
	case *btf.Float:
		fmt.Fprintf(w, "float(%d)", t.Size)
	case *btf.Enum:
		fmt.Fprintf(w, "enum %s(%d,%t){", t.Name, t.Size, t.Signed)
		for _, v := range t.Values {
			fmt.Fprintf(w, "%s=%d;", v.Name, v.Value)
		}
		io.WriteString(w, "}")
	case *btf.Pointer:
		io.WriteString(w, "ptr")
	case *btf.Array:
		fmt.Fprintf(w, "[%d]", t.Nelems)
		writeType(w, t.Type, depth+1)
	case *btf.Struct:
		writeMembers(w, "struct "+t.Name, t.Size, t.Members, depth)
	case *btf.Union:
		writeMembers(w, "union "+t.Name, t.Size, t.Members, depth)
	case *btf.Typedef:
		writeType(w, t.Type, depth+1)
	case *btf.Volatile:
		writeType(w, t.Type, depth+1)
	case *btf.Const:
		writeType(w, t.Type, depth+1)
	case *btf.Restrict:
		writeType(w, t.Type, depth+1)
	default:
		fmt.Fprintf(w, "%T", t)
	}
}

func writeMembers(w io.Writer, what string, size uint32, members []btf.Member, depth int) {
	fmt.Fprintf(w, "%s(%d){", what, size)
	for _, m := range members {
		fmt.Fprintf(w, "%s@%d:%d ", m.Name, m.Offset, m.BitfieldSize)
		writeType(w, m.Type, depth+1)
		io.WriteString(w, ";")
	}
	io.WriteString(w, "}")
}

// layoutKey names a map in the layout record: its name as the kernel
// keeps it (BPF_OBJ_NAME_LEN).
type layoutKey [16]byte

func keyOf(name string) layoutKey {
	var k layoutKey
	copy(k[:], name)
	return k
}

// layoutRecordSpec is the map recording the pinned maps' layouts
// (pins.LayoutsPath). It is not the probes' (they never read it): the
// daemon creates it.
var layoutRecordSpec = ebpf.MapSpec{Name: "map_layouts", Type: ebpf.Hash,
	KeySize: uint32(len(layoutKey{})), ValueSize: uint32(len(layoutHash{})), MaxEntries: 64}

// readLayouts returns the recorded layout of each pinned map; nil when
// nothing is recorded (pins of a podint from before the record).
func readLayouts(pinDir string) (map[string]layoutHash, error) {
	m, err := ebpf.LoadPinnedMap(pins.LayoutsPath(pinDir), &ebpf.LoadPinOptions{ReadOnly: true})
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("open the pinned maps' layout record %s: %w", pins.LayoutsPath(pinDir), err)
	}
	defer m.Close()
	if layoutRecordSpec.Compatible(m) != nil {
		return nil, nil // a record of another form: as good as none
	}
	out := map[string]layoutHash{}
	var (
		k layoutKey
		v layoutHash
	)
	it := m.Iterate()
	for it.Next(&k, &v) {
		out[strings.TrimRight(string(k[:]), "\x00")] = v
	}
	return out, it.Err()
}

// writeLayouts records the layouts of the pinned maps, replacing the
// whole record: it is written only once the maps it describes are pinned,
// so that a record never vouches for a map that is not there yet.
func writeLayouts(pinDir string, layouts map[string]layoutHash) error {
	spec := layoutRecordSpec
	m, err := ebpf.NewMap(&spec)
	if err != nil {
		return fmt.Errorf("create the maps' layout record: %w", err)
	}
	defer m.Close()
	for name, h := range layouts {
		if err := m.Put(keyOf(name), h); err != nil {
			return fmt.Errorf("record the layout of map %s: %w", name, err)
		}
	}
	return pins.Replace(pins.LayoutsPath(pinDir), m.Pin)
}
