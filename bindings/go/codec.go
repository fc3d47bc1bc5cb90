//go:build cgo

package cachekit

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"math"
	"strings"
	"sync"
	"time"

	"github.com/vmihailenco/msgpack/v5"
)

// Arguments and values are MessagePack, written with vmihailenco/msgpack.
//
// Arguments: one MessagePack array of the call's arguments. The core
// canonicalises it (shortest integer forms, 2.0 == 2, sorted map keys) and
// hashes it, so a Go call and a Python, PHP or Node call with equal values
// share an entry. time.Time goes as the standard timestamp ext (-1), a Set
// as ext 1 and a UUID as ext 2: the ext types the core knows.
//
// Values: plain MessagePack with the shortest integer forms and sorted
// map[string]any keys (the protocol's canonical bytes where Go can express
// them). A time.Time is written as the marker map
// {"__datetime__": true, "value": "<ISO 8601>"} that the Python reference
// writes, and the markers __datetime__, __date__ and __time__ are read back
// as time.Time. Struct fields use their `msgpack` tag, else their `json`
// tag, else their name.

type encoder struct {
	buf bytes.Buffer
	enc *msgpack.Encoder
}

var encoders = sync.Pool{New: func() any {
	e := &encoder{}
	e.enc = msgpack.NewEncoder(&e.buf)
	e.enc.SetCustomStructTag("json")
	e.enc.UseCompactInts(true)
	e.enc.SetSortMapKeys(true)
	return e
}}

type decoder struct {
	r   bytes.Reader
	dec *msgpack.Decoder
}

var decoders = sync.Pool{New: func() any {
	d := &decoder{}
	d.dec = msgpack.NewDecoder(&d.r)
	d.dec.SetCustomStructTag("json")
	d.dec.UseLooseInterfaceDecoding(true)
	return d
}}

// encodeArgs returns the MessagePack array of args (a new slice the caller owns).
func encodeArgs(args []any) ([]byte, error) {
	e := encoders.Get().(*encoder)
	defer encoders.Put(e)
	e.buf.Reset()
	e.enc.ResetWriter(&e.buf)
	if err := e.enc.EncodeArrayLen(len(args)); err != nil {
		return nil, err
	}
	for i, a := range args {
		if err := e.enc.Encode(a); err != nil {
			return nil, &Error{Kind: ErrEncode, Op: "encoding the arguments", Message: fmt.Sprintf("argument %d (%T): %v", i, a, err)}
		}
	}
	return bytes.Clone(e.buf.Bytes()), nil
}

// encodeValue returns the MessagePack bytes of v (a new slice).
func encodeValue(v any) ([]byte, error) {
	e := encoders.Get().(*encoder)
	defer encoders.Put(e)
	e.buf.Reset()
	e.enc.ResetWriter(&e.buf)
	if err := e.enc.Encode(v); err != nil {
		return nil, err
	}
	b := e.buf.Bytes()
	if mayHoldTimestamp(b) {
		return rewrite(b, timestampsToMarkers)
	}
	return bytes.Clone(b), nil
}

// decodeValue decodes one complete MessagePack document into out.
func decodeValue(data []byte, out any) error {
	if bytes.Contains(data, []byte("__")) {
		var err error
		if data, err = rewrite(data, markersToTimestamps); err != nil {
			return err
		}
	}
	d := decoders.Get().(*decoder)
	defer decoders.Put(d)
	d.r.Reset(data)
	d.dec.ResetReader(&d.r)
	if err := d.dec.Decode(out); err != nil {
		return err
	}
	if d.r.Len() != 0 {
		return fmt.Errorf("%d trailing bytes after the value", d.r.Len())
	}
	return nil
}

// Set is a set argument: encoded as the ext type the core sorts and
// de-duplicates (a Python set or frozenset of the same elements gives the
// same key). For arguments only.
type Set []any

// SetOf builds a Set from typed elements.
func SetOf[E any](elems ...E) Set {
	s := make(Set, len(elems))
	for i, e := range elems {
		s[i] = e
	}
	return s
}

// EncodeMsgpack writes ext 1: a MessagePack array of the elements.
func (s Set) EncodeMsgpack(enc *msgpack.Encoder) error {
	payload, err := encodeArgs([]any(s))
	if err != nil {
		return err
	}
	if err := enc.EncodeExtHeader(1, len(payload)); err != nil {
		return err
	}
	_, err = enc.Writer().Write(payload)
	return err
}

// UUID is a UUID argument, keyed as its lowercase hyphenated string like a
// Python uuid.UUID. Any [16]byte UUID type converts to it
// (cachekit.UUID(googleUUID)). For arguments only.
type UUID [16]byte

// ParseUUID reads the 36-character hyphenated form, in any case.
func ParseUUID(s string) (UUID, error) {
	var u UUID
	h := strings.ReplaceAll(s, "-", "")
	if len(s) != 36 || len(h) != 32 {
		return u, fmt.Errorf("cachekit: %q is not a hyphenated UUID", s)
	}
	if _, err := hex.Decode(u[:], []byte(h)); err != nil {
		return u, fmt.Errorf("cachekit: %q is not a hyphenated UUID: %w", s, err)
	}
	return u, nil
}

func (u UUID) String() string {
	h := hex.EncodeToString(u[:])
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}

// EncodeMsgpack writes ext 2 with the 16 raw bytes.
func (u UUID) EncodeMsgpack(enc *msgpack.Encoder) error {
	if err := enc.EncodeExtHeader(2, 16); err != nil {
		return err
	}
	_, err := enc.Writer().Write(u[:])
	return err
}

// ---------------------------------------------------------------- dates

// mayHoldTimestamp: the headers vmihailenco writes for a timestamp ext
// (fixext4, fixext8, ext8 of 12 bytes, all of type -1). A false positive
// only costs a walk.
func mayHoldTimestamp(b []byte) bool {
	return bytes.Contains(b, []byte{0xd6, 0xff}) || bytes.Contains(b, []byte{0xd7, 0xff}) ||
		bytes.Contains(b, []byte{0xc7, 0x0c, 0xff})
}

type rewriteMode int

const (
	timestampsToMarkers rewriteMode = iota // writing a value
	markersToTimestamps                    // reading a value
)

var errTruncated = errors.New("truncated MessagePack")

// rewrite copies one MessagePack document, replacing timestamps by marker
// maps or marker maps by timestamps. It fails on malformed input, which a
// reader treats as an undecodable value.
func rewrite(src []byte, mode rewriteMode) ([]byte, error) {
	w := rewriter{src: src, mode: mode, out: make([]byte, 0, len(src)+32)}
	if err := w.item(0); err != nil {
		return nil, err
	}
	if w.pos != len(src) {
		return nil, fmt.Errorf("%d trailing bytes after the value", len(src)-w.pos)
	}
	return w.out, nil
}

type rewriter struct {
	src  []byte
	pos  int
	out  []byte
	mode rewriteMode
}

const maxDepth = 512

func (w *rewriter) need(n int) error {
	if n < 0 || len(w.src)-w.pos < n {
		return errTruncated
	}
	return nil
}

func (w *rewriter) uint(n int) (int, error) {
	if err := w.need(n); err != nil {
		return 0, err
	}
	var v uint64
	for i := 0; i < n; i++ {
		v = v<<8 | uint64(w.src[w.pos+i])
	}
	if v > uint64(len(w.src)) { // no length can exceed the document
		return 0, errTruncated
	}
	return int(v), nil
}

// copyN copies the header byte(s) and n following bytes.
func (w *rewriter) copyN(n int) error {
	if err := w.need(n); err != nil {
		return err
	}
	w.out = append(w.out, w.src[w.pos:w.pos+n]...)
	w.pos += n
	return nil
}

func (w *rewriter) item(depth int) error {
	if depth > maxDepth {
		return errors.New("MessagePack nested too deeply")
	}
	if err := w.need(1); err != nil {
		return err
	}
	c := w.src[w.pos]
	switch {
	case c <= 0x7f || c >= 0xe0 || c == 0xc0 || c == 0xc2 || c == 0xc3:
		return w.copyN(1)
	case c >= 0x80 && c <= 0x8f:
		return w.mapBody(1, int(c&0x0f), depth)
	case c >= 0x90 && c <= 0x9f:
		return w.arrayBody(1, int(c&0x0f), depth)
	case c >= 0xa0 && c <= 0xbf:
		return w.copyN(1 + int(c&0x1f))
	}
	w.pos++ // past the header byte; sized forms follow
	switch c {
	case 0xca, 0xce, 0xd2:
		return w.copyBack(4)
	case 0xcb, 0xcf, 0xd3:
		return w.copyBack(8)
	case 0xcc, 0xd0:
		return w.copyBack(1)
	case 0xcd, 0xd1:
		return w.copyBack(2)
	case 0xc4, 0xd9:
		return w.sized(1)
	case 0xc5, 0xda:
		return w.sized(2)
	case 0xc6, 0xdb:
		return w.sized(4)
	case 0xdc, 0xdd, 0xde, 0xdf:
		width := 2
		if c == 0xdd || c == 0xdf {
			width = 4
		}
		n, err := w.uint(width)
		if err != nil {
			return err
		}
		w.pos -= 1
		if c >= 0xde {
			return w.mapBody(1+width, n, depth)
		}
		return w.arrayBody(1+width, n, depth)
	case 0xd4, 0xd5, 0xd6, 0xd7, 0xd8:
		return w.ext(1<<(c-0xd4), 0)
	case 0xc7:
		n, err := w.uint(1)
		if err != nil {
			return err
		}
		return w.ext(n, 1)
	case 0xc8:
		n, err := w.uint(2)
		if err != nil {
			return err
		}
		return w.ext(n, 2)
	case 0xc9:
		n, err := w.uint(4)
		if err != nil {
			return err
		}
		return w.ext(n, 4)
	}
	return fmt.Errorf("invalid MessagePack byte 0x%02x", c)
}

// copyBack copies the header byte (already passed) and n payload bytes.
func (w *rewriter) copyBack(n int) error {
	w.pos--
	return w.copyN(1 + n)
}

// sized copies a str/bin with a width-byte length.
func (w *rewriter) sized(width int) error {
	n, err := w.uint(width)
	if err != nil {
		return err
	}
	w.pos--
	return w.copyN(1 + width + n)
}

func (w *rewriter) arrayBody(header, n int, depth int) error {
	if err := w.copyN(header); err != nil {
		return err
	}
	for i := 0; i < n; i++ {
		if err := w.item(depth + 1); err != nil {
			return err
		}
	}
	return nil
}

func (w *rewriter) mapBody(header, n int, depth int) error {
	if n == 2 && w.mode == markersToTimestamps {
		start := w.pos
		w.pos += header
		if t, ok := w.marker(); ok {
			w.out = appendTimestamp(w.out, t)
			return nil
		}
		w.pos = start
	}
	if err := w.copyN(header); err != nil {
		return err
	}
	for i := 0; i < 2*n; i++ {
		if err := w.item(depth + 1); err != nil {
			return err
		}
	}
	return nil
}

// ext handles an ext whose header byte is passed and whose width-byte
// length (if any) has been read: a timestamp becomes a marker map when
// writing; anything else is copied.
func (w *rewriter) ext(n, width int) error {
	start := w.pos - 1
	w.pos += width
	if err := w.need(1 + n); err != nil {
		return err
	}
	typ := int8(w.src[w.pos])
	body := w.src[w.pos+1 : w.pos+1+n]
	w.pos += 1 + n
	if typ == -1 && w.mode == timestampsToMarkers {
		t, err := parseTimestamp(body)
		if err != nil {
			return err
		}
		w.out = appendMarker(w.out, t)
		return nil
	}
	w.out = append(w.out, w.src[start:w.pos]...)
	return nil
}

// marker reads a {"__datetime__"|"__date__"|"__time__": true, "value": str}
// map body (keys in either order), leaving pos after it on success.
func (w *rewriter) marker() (time.Time, bool) {
	var kind, value string
	for i := 0; i < 2; i++ {
		k, ok := w.str()
		if !ok {
			return time.Time{}, false
		}
		switch k {
		case "__datetime__", "__date__", "__time__":
			if w.pos >= len(w.src) || w.src[w.pos] != 0xc3 || kind != "" {
				return time.Time{}, false
			}
			w.pos++
			kind = k
		case "value":
			v, ok := w.str()
			if !ok || value != "" {
				return time.Time{}, false
			}
			value = v
		default:
			return time.Time{}, false
		}
	}
	if kind == "" || value == "" {
		return time.Time{}, false
	}
	t, err := parseISO(kind, value)
	return t, err == nil
}

func (w *rewriter) str() (string, bool) {
	if w.pos >= len(w.src) {
		return "", false
	}
	c := w.src[w.pos]
	var n, hdr int
	switch {
	case c >= 0xa0 && c <= 0xbf:
		n, hdr = int(c&0x1f), 1
	case c == 0xd9 && w.pos+1 < len(w.src):
		n, hdr = int(w.src[w.pos+1]), 2
	default:
		return "", false
	}
	if len(w.src)-w.pos < hdr+n {
		return "", false
	}
	s := string(w.src[w.pos+hdr : w.pos+hdr+n])
	w.pos += hdr + n
	return s, true
}

// parseISO reads what Python's isoformat writes (and RFC 3339). A
// datetime without an offset is taken as UTC; a date is midnight UTC; a
// time is on January 1 of year 0, as time.Parse gives.
func parseISO(kind, s string) (time.Time, error) {
	var layouts []string
	switch kind {
	case "__datetime__":
		layouts = []string{time.RFC3339Nano, "2006-01-02T15:04:05.999999999"}
	case "__date__":
		layouts = []string{time.DateOnly}
	default:
		layouts = []string{"15:04:05.999999999Z07:00", "15:04:05.999999999"}
	}
	var err error
	for _, l := range layouts {
		var t time.Time
		if t, err = time.Parse(l, s); err == nil {
			return t, nil
		}
	}
	return time.Time{}, err
}

// formatISO writes Python's datetime.isoformat(): microseconds only when
// non-zero, offset as +HH:MM. Nanoseconds below the microsecond are
// dropped (Python datetimes have none).
func formatISO(t time.Time) string {
	s := t.Format("2006-01-02T15:04:05")
	if us := t.Nanosecond() / 1000; us != 0 {
		s += fmt.Sprintf(".%06d", us)
	}
	return s + t.Format("-07:00")
}

func parseTimestamp(b []byte) (time.Time, error) {
	switch len(b) {
	case 4:
		return time.Unix(int64(binary.BigEndian.Uint32(b)), 0).UTC(), nil
	case 8:
		v := binary.BigEndian.Uint64(b)
		return time.Unix(int64(v&(1<<34-1)), int64(v>>34)).UTC(), nil
	case 12:
		return time.Unix(int64(binary.BigEndian.Uint64(b[4:])), int64(binary.BigEndian.Uint32(b))).UTC(), nil
	}
	return time.Time{}, fmt.Errorf("timestamp ext of %d bytes", len(b))
}

func appendTimestamp(out []byte, t time.Time) []byte {
	out = append(out, 0xc7, 12, 0xff)
	out = binary.BigEndian.AppendUint32(out, uint32(t.Nanosecond()))
	return binary.BigEndian.AppendUint64(out, uint64(t.Unix()))
}

func appendMarker(out []byte, t time.Time) []byte {
	out = append(out, 0x82, 0xac)
	out = append(out, "__datetime__"...)
	out = append(out, 0xc3, 0xa5)
	out = append(out, "value"...)
	return appendStr(out, formatISO(t))
}

func appendStr(out []byte, s string) []byte {
	switch n := len(s); {
	case n < 32:
		out = append(out, 0xa0|byte(n))
	case n < 256:
		out = append(out, 0xd9, byte(n))
	default:
		out = append(out, 0xda, byte(n>>8), byte(n))
	}
	return append(out, s...)
}

// ---------------------------------------------------------------- any

// Ext is an application ext type found in a value decoded into any (an
// SDK's own type this package does not know).
type Ext struct {
	Type int8
	Data []byte
}

// decodeInto decodes data into *out. Untyped targets (any, map[string]any,
// []any) use decodeAny, which accepts every well-formed document (integer
// map keys, unknown ext types); typed targets use vmihailenco/msgpack.
func decodeInto[T any](data []byte, out *T) error {
	switch p := any(out).(type) {
	case *any:
		v, err := decodeAny(data)
		if err == nil {
			*p = v
		}
		return err
	case *map[string]any:
		v, err := decodeAny(data)
		if err != nil {
			return err
		}
		m, ok := v.(map[string]any)
		if !ok && v != nil {
			return fmt.Errorf("cached value is a %T, not a map with string keys", v)
		}
		*p = m
		return nil
	case *[]any:
		v, err := decodeAny(data)
		if err != nil {
			return err
		}
		s, ok := v.([]any)
		if !ok && v != nil {
			return fmt.Errorf("cached value is a %T, not an array", v)
		}
		*p = s
		return nil
	}
	return decodeValue(data, out)
}

// decodeAny decodes one document to nil, bool, int64, uint64 (above
// MaxInt64), float64, string, []byte, []any, map[string]any (map[any]any
// when a key is not a string), time.Time (timestamps and date markers) or
// Ext.
func decodeAny(data []byte) (any, error) {
	r := anyReader{b: data}
	v, err := r.value(0)
	if err != nil {
		return nil, err
	}
	if r.pos != len(data) {
		return nil, fmt.Errorf("%d trailing bytes after the value", len(data)-r.pos)
	}
	return v, nil
}

type anyReader struct {
	b   []byte
	pos int
}

func (r *anyReader) take(n int) ([]byte, error) {
	if n < 0 || len(r.b)-r.pos < n {
		return nil, errTruncated
	}
	s := r.b[r.pos : r.pos+n]
	r.pos += n
	return s, nil
}

func (r *anyReader) size(width int) (int, error) {
	s, err := r.take(width)
	if err != nil {
		return 0, err
	}
	var v uint64
	for _, c := range s {
		v = v<<8 | uint64(c)
	}
	if v > uint64(len(r.b)) {
		return 0, errTruncated
	}
	return int(v), nil
}

func (r *anyReader) value(depth int) (any, error) {
	if depth > maxDepth {
		return nil, errors.New("MessagePack nested too deeply")
	}
	h, err := r.take(1)
	if err != nil {
		return nil, err
	}
	c := h[0]
	switch {
	case c <= 0x7f:
		return int64(c), nil
	case c >= 0xe0:
		return int64(int8(c)), nil
	case c >= 0x80 && c <= 0x8f:
		return r.mapOf(int(c&0x0f), depth)
	case c >= 0x90 && c <= 0x9f:
		return r.arrayOf(int(c&0x0f), depth)
	case c >= 0xa0 && c <= 0xbf:
		s, err := r.take(int(c & 0x1f))
		return string(s), err
	}
	switch c {
	case 0xc0:
		return nil, nil
	case 0xc2:
		return false, nil
	case 0xc3:
		return true, nil
	case 0xcc, 0xcd, 0xce, 0xcf:
		s, err := r.take(1 << (c - 0xcc))
		if err != nil {
			return nil, err
		}
		var v uint64
		for _, x := range s {
			v = v<<8 | uint64(x)
		}
		if v <= 1<<63-1 {
			return int64(v), nil
		}
		return v, nil
	case 0xd0:
		s, err := r.take(1)
		if err != nil {
			return nil, err
		}
		return int64(int8(s[0])), nil
	case 0xd1:
		s, err := r.take(2)
		if err != nil {
			return nil, err
		}
		return int64(int16(binary.BigEndian.Uint16(s))), nil
	case 0xd2:
		s, err := r.take(4)
		if err != nil {
			return nil, err
		}
		return int64(int32(binary.BigEndian.Uint32(s))), nil
	case 0xd3:
		s, err := r.take(8)
		if err != nil {
			return nil, err
		}
		return int64(binary.BigEndian.Uint64(s)), nil
	case 0xca:
		s, err := r.take(4)
		if err != nil {
			return nil, err
		}
		return float64(math.Float32frombits(binary.BigEndian.Uint32(s))), nil
	case 0xcb:
		s, err := r.take(8)
		if err != nil {
			return nil, err
		}
		return math.Float64frombits(binary.BigEndian.Uint64(s)), nil
	case 0xd9, 0xda, 0xdb, 0xc4, 0xc5, 0xc6:
		width := map[byte]int{0xd9: 1, 0xda: 2, 0xdb: 4, 0xc4: 1, 0xc5: 2, 0xc6: 4}[c]
		n, err := r.size(width)
		if err != nil {
			return nil, err
		}
		s, err := r.take(n)
		if err != nil {
			return nil, err
		}
		if c >= 0xd9 {
			return string(s), nil
		}
		return bytes.Clone(s), nil
	case 0xdc, 0xdd, 0xde, 0xdf:
		width := 2
		if c == 0xdd || c == 0xdf {
			width = 4
		}
		n, err := r.size(width)
		if err != nil {
			return nil, err
		}
		if c >= 0xde {
			return r.mapOf(n, depth)
		}
		return r.arrayOf(n, depth)
	case 0xd4, 0xd5, 0xd6, 0xd7, 0xd8:
		return r.ext(1 << (c - 0xd4))
	case 0xc7, 0xc8, 0xc9:
		n, err := r.size(1 << (c - 0xc7))
		if err != nil {
			return nil, err
		}
		return r.ext(n)
	}
	return nil, fmt.Errorf("invalid MessagePack byte 0x%02x", c)
}

func (r *anyReader) ext(n int) (any, error) {
	t, err := r.take(1)
	if err != nil {
		return nil, err
	}
	body, err := r.take(n)
	if err != nil {
		return nil, err
	}
	if int8(t[0]) == -1 {
		return parseTimestamp(body)
	}
	return Ext{Type: int8(t[0]), Data: bytes.Clone(body)}, nil
}

func (r *anyReader) arrayOf(n, depth int) (any, error) {
	if n > len(r.b)-r.pos { // each element takes at least a byte
		return nil, errTruncated
	}
	out := make([]any, n)
	for i := range out {
		v, err := r.value(depth + 1)
		if err != nil {
			return nil, err
		}
		out[i] = v
	}
	return out, nil
}

func (r *anyReader) mapOf(n, depth int) (any, error) {
	if 2*n > len(r.b)-r.pos {
		return nil, errTruncated
	}
	m := make(map[string]any, n)
	var loose map[any]any
	for i := 0; i < n; i++ {
		k, err := r.value(depth + 1)
		if err != nil {
			return nil, err
		}
		v, err := r.value(depth + 1)
		if err != nil {
			return nil, err
		}
		ks, isStr := k.(string)
		if loose == nil && isStr {
			m[ks] = v
			continue
		}
		if loose == nil {
			loose = make(map[any]any, n)
			for mk, mv := range m {
				loose[mk] = mv
			}
		}
		if _, ok := k.([]any); ok {
			return nil, errors.New("an array as a map key")
		}
		if _, ok := k.(map[string]any); ok {
			return nil, errors.New("a map as a map key")
		}
		if b, ok := k.([]byte); ok {
			k = string(b)
		}
		loose[k] = v
	}
	if loose != nil {
		return loose, nil
	}
	if n == 2 {
		if t, ok := markerTime(m); ok {
			return t, nil
		}
	}
	return m, nil
}

func markerTime(m map[string]any) (time.Time, bool) {
	v, ok := m["value"].(string)
	if !ok {
		return time.Time{}, false
	}
	for _, kind := range []string{"__datetime__", "__date__", "__time__"} {
		if m[kind] == true {
			t, err := parseISO(kind, v)
			return t, err == nil
		}
	}
	return time.Time{}, false
}
