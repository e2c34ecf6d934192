package install

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
)

// span is a half-open byte range [start, end) of a JSON value inside a file.
// Edits are splices of spans, so bytes podint does not own stay exactly as the
// primary CNI wrote them and a removal restores the file byte for byte.
type span struct{ start, end int }

// member is one key of a JSON object and where it sits: whole runs from the
// key's opening quote to the end of the value.
type member struct {
	key   string
	whole span
	val   span
}

// objectMembers returns the members of the JSON object in data, in file order.
// Duplicate keys are an error: runtimes disagree on which one wins, so editing
// such a file could change which network a pod gets.
func objectMembers(data []byte) ([]member, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	if err := expectDelim(dec, '{'); err != nil {
		return nil, err
	}
	var members []member
	seen := map[string]bool{}
	for dec.More() {
		keyStart := skipSeparators(data, int(dec.InputOffset()))
		tok, err := dec.Token()
		if err != nil {
			return nil, err
		}
		key, ok := tok.(string)
		if !ok {
			return nil, offsetError{int(dec.InputOffset()), errors.New("expected an object key")}
		}
		if seen[key] {
			return nil, offsetError{int(dec.InputOffset()), fmt.Errorf("duplicate key %q", key)}
		}
		seen[key] = true
		val, err := decodeSpan(dec, data, 0)
		if err != nil {
			return nil, err
		}
		members = append(members, member{key: key, whole: span{keyStart, val.end}, val: val})
	}
	if err := expectDelim(dec, '}'); err != nil {
		return nil, err
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, offsetError{int(dec.InputOffset()), errors.New("unexpected data after the top-level object")}
	}
	return members, nil
}

// arrayElements returns the spans of the elements of the JSON array at s in data.
func arrayElements(data []byte, s span) ([]span, error) {
	dec := json.NewDecoder(bytes.NewReader(data[s.start:s.end]))
	if err := expectDelim(dec, '['); err != nil {
		return nil, shift(err, s.start)
	}
	var elems []span
	for dec.More() {
		e, err := decodeSpan(dec, data, s.start)
		if err != nil {
			return nil, shift(err, s.start)
		}
		elems = append(elems, e)
	}
	return elems, nil
}

// decodeSpan reads the next value from dec, whose input is data[base:], and
// returns its span in data.
func decodeSpan(dec *json.Decoder, data []byte, base int) (span, error) {
	var raw json.RawMessage
	if err := dec.Decode(&raw); err != nil {
		return span{}, err
	}
	end := base + int(dec.InputOffset())
	s := span{start: end - len(raw), end: end}
	if s.start < 0 || !bytes.Equal(data[s.start:s.end], raw) {
		// The decoder hands back values verbatim; if not, splicing would corrupt the file.
		return span{}, fmt.Errorf("internal error: value at offset %d is not verbatim", end)
	}
	return s, nil
}

// skipSeparators returns the offset of the first byte at or after i that is
// neither JSON whitespace nor a comma.
func skipSeparators(data []byte, i int) int {
	for i < len(data) && bytes.IndexByte([]byte(" \t\r\n,"), data[i]) >= 0 {
		i++
	}
	return i
}

func expectDelim(dec *json.Decoder, want json.Delim) error {
	tok, err := dec.Token()
	if err != nil {
		return err
	}
	if d, ok := tok.(json.Delim); !ok || d != want {
		return offsetError{int(dec.InputOffset()), fmt.Errorf("expected %q", string(want))}
	}
	return nil
}

// offsetError is a structural problem at a byte offset of the file.
type offsetError struct {
	offset int
	err    error
}

func (e offsetError) Error() string { return e.err.Error() }
func (e offsetError) Unwrap() error { return e.err }

// shift moves the offset of an error found in a sub-slice to the whole file.
func shift(err error, base int) error {
	var oe offsetError
	if errors.As(err, &oe) {
		return offsetError{oe.offset + base, oe.err}
	}
	var se *json.SyntaxError
	if errors.As(err, &se) {
		return offsetError{int(se.Offset) + base, err}
	}
	return err
}

// errorOffset is the byte offset an error points at, if any.
func errorOffset(err error) (int, bool) {
	var oe offsetError
	if errors.As(err, &oe) {
		return oe.offset, true
	}
	var se *json.SyntaxError
	if errors.As(err, &se) {
		return int(se.Offset), true
	}
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) {
		return int(te.Offset), true
	}
	return 0, false
}

// lineCol turns a byte offset into 1-based line and column numbers.
func lineCol(data []byte, offset int) (line, col int) {
	if offset > len(data) {
		offset = len(data)
	}
	before := data[:offset]
	line = 1 + bytes.Count(before, []byte("\n"))
	col = offset - bytes.LastIndexByte(before, '\n')
	return line, col
}
