package store

import (
	"encoding/binary"
	"io"
	"net/netip"
	"strings"
	"time"

	"github.com/podint/podint/collector/identity"
	"github.com/podint/podint/collector/path"
)

// hopCopy streams a batch's flow_hops rows in PostgreSQL's binary COPY
// format, encoded straight into a reused buffer: an interval of 100k paths
// costs no allocation per value (pgx's CopyFrom boxes every value of every
// row into an interface, which at that size is most of the collector's
// garbage and its GC time on one core).
type hopCopy struct {
	rows hopRows
	buf  []byte
	off  int
	done bool
}

// copyHopsSQL is the COPY that hopCopy's bytes are for.
var copyHopsSQL = "COPY stage_hops (" + strings.Join(hopColumns, ", ") + ") FROM STDIN (FORMAT binary)"

func newHopCopy(paths []*path.Path) *hopCopy {
	c := &hopCopy{rows: hopRows{paths: paths}, buf: make([]byte, 0, 64<<10)}
	// Signature, flags, header extension length.
	c.buf = append(c.buf, "PGCOPY\n\xff\r\n\x00"...)
	c.buf = binary.BigEndian.AppendUint32(c.buf, 0)
	c.buf = binary.BigEndian.AppendUint32(c.buf, 0)
	return c
}

func (c *hopCopy) Read(p []byte) (int, error) {
	for c.off == len(c.buf) {
		if c.done {
			return 0, io.EOF
		}
		c.buf, c.off = c.buf[:0], 0
		for len(c.buf) < 60<<10 {
			if !c.rows.Next() {
				c.buf = binary.BigEndian.AppendUint16(c.buf, 0xffff) // trailer
				c.done = true
				break
			}
			c.appendRow()
		}
	}
	n := copy(p, c.buf[c.off:])
	c.off += n
	return n, nil
}

// appendRow encodes the current hop, its columns in hopColumns' order.
func (c *hopCopy) appendRow() {
	pa := c.rows.paths[c.rows.p]
	h := pa.Hops[c.rows.h-1]
	f := pa.Flow
	var drops uint64
	for _, n := range h.Drops {
		drops += n
	}
	b := binary.BigEndian.AppendUint16(c.buf, uint16(len(hopColumns)))
	b = pgTime(b, pa.Interval)
	b = pgInt16(b, int16(f.Proto))
	b = pgInet(b, f.Src)
	b = pgInt32(b, int32(f.SrcPort))
	b = pgInet(b, f.Dst)
	b = pgInt32(b, int32(f.DstPort))
	b = pgText(b, pa.Src.UID)
	b = pgText(b, pa.Dst.UID)
	b = pgInt64(b, int64(h.SwitchID))
	b = pgInt64(b, int64(h.IngressPort))
	b = pgInt64(b, int64(h.EgressPort))
	b = pgInet(b, identity.SwitchIP(h.SwitchID))
	b = pgText(b, h.Node)
	b = pgInt16(b, int16(h.Position))
	for _, s := range []string{pa.Src.Namespace, pa.Src.Name, pa.Src.Node, pa.Dst.Namespace, pa.Dst.Name, pa.Dst.Node} {
		b = pgText(b, s)
	}
	b = pgInt64(b, int64(h.Reports))
	b = pgInt64(b, int64(h.Bytes))
	b = pgInt64(b, int64(drops))
	// bigint[]: dimensions, has nulls, element type (int8), then the one
	// dimension's length and lower bound, then each element.
	n := len(h.Latency.Counts)
	b = binary.BigEndian.AppendUint32(b, uint32(20+n*12))
	b = binary.BigEndian.AppendUint32(b, 1)
	b = binary.BigEndian.AppendUint32(b, 0)
	b = binary.BigEndian.AppendUint32(b, 20) // INT8OID
	b = binary.BigEndian.AppendUint32(b, uint32(n))
	b = binary.BigEndian.AppendUint32(b, 1)
	for _, v := range h.Latency.Counts {
		b = pgInt64(b, int64(v))
	}
	b = pgInt64(b, int64(h.Latency.Sum))
	b = pgInt64(b, int64(h.Latency.Max))
	b = pgTime(b, h.FirstSeen)
	b = pgTime(b, h.LastSeen)
	b = pgInetOrNull(b, pa.Service.Addr())
	b = pgInt32(b, int32(pa.Service.Port()))
	c.buf = b
}

func pgInt16(b []byte, v int16) []byte {
	b = binary.BigEndian.AppendUint32(b, 2)
	return binary.BigEndian.AppendUint16(b, uint16(v))
}

func pgInt32(b []byte, v int32) []byte {
	b = binary.BigEndian.AppendUint32(b, 4)
	return binary.BigEndian.AppendUint32(b, uint32(v))
}

func pgInt64(b []byte, v int64) []byte {
	b = binary.BigEndian.AppendUint32(b, 8)
	return binary.BigEndian.AppendUint64(b, uint64(v))
}

func pgText(b []byte, s string) []byte {
	b = binary.BigEndian.AppendUint32(b, uint32(len(s)))
	return append(b, s...)
}

// pgEpoch is PostgreSQL's timestamp origin, in Unix microseconds.
const pgEpoch = 946684800 * 1_000_000

func pgTime(b []byte, t time.Time) []byte {
	return pgInt64(b, t.UnixMicro()-pgEpoch)
}

// pgInetOrNull encodes a as an inet host address, an invalid one as NULL.
func pgInetOrNull(b []byte, a netip.Addr) []byte {
	if !a.IsValid() {
		return binary.BigEndian.AppendUint32(b, 0xffffffff) // length -1: NULL
	}
	return pgInet(b, a)
}

// pgInet encodes a as an inet host address; an invalid one as 0.0.0.0
// (addrOrZero's rule: the key columns are NOT NULL).
func pgInet(b []byte, a netip.Addr) []byte {
	if !a.IsValid() {
		a = netip.IPv4Unspecified()
	}
	a = a.Unmap()
	family := byte(2) // PGSQL_AF_INET
	if a.Is6() {
		family = 3 // PGSQL_AF_INET6
	}
	if a.Is4() {
		raw := a.As4()
		b = binary.BigEndian.AppendUint32(b, 4+4)
		b = append(b, family, 32, 0, 4)
		return append(b, raw[:]...)
	}
	raw := a.As16()
	b = binary.BigEndian.AppendUint32(b, 4+16)
	b = append(b, family, 128, 0, 16)
	return append(b, raw[:]...)
}
