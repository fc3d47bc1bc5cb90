package cachekit_test

// The cachekit protocol's interop vectors (tests/vectors/interop-mode.json),
// where this wrapper has a part in them: its argument encoding (Go-encoded
// arguments must give the protocol's key through the core's ck_make_key),
// its value encoding (the bytes every SDK reads) and its value reader.
// aad_vectors and encryption_vectors are the core's alone (tests/vectors.rs):
// no Go code takes part in them.

import (
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	cachekit "cachekit.dev/go"
)

type vectorFile struct {
	KeyVectors []struct {
		Name, Namespace, Operation string
		Args                       json.RawMessage
		ExpectedKey                string `json:"expected_key"`
	} `json:"key_vectors"`
	ErrorVectors []struct {
		Name      string
		Namespace *string
		Operation *string
		Args      json.RawMessage
		Error     string
	} `json:"error_vectors"`
	ValueVectors []struct {
		Name         string
		Value        json.RawMessage
		CanonicalHex string `json:"canonical_msgpack_hex"`
	} `json:"value_vectors"`
	ReaderAccept []struct {
		Name string
		readerDoc
		Value json.RawMessage `json:"value"`
	} `json:"reader_accept_vectors"`
	ReaderReject []struct {
		Name string
		readerDoc
	} `json:"reader_reject_vectors"`
}

// readerDoc is a reader vector's document: `msgpack_hex` in the first
// 1.3.0 revision of the file, `input_hex` in the later one.
type readerDoc struct {
	MsgpackHex string `json:"msgpack_hex"`
	InputHex   string `json:"input_hex"`
}

func (d readerDoc) hex() string {
	if d.InputHex != "" {
		return d.InputHex
	}
	return d.MsgpackHex
}

func loadVectors(t *testing.T) vectorFile {
	t.Helper()
	_, here, _, _ := runtime.Caller(0)
	path := filepath.Join(filepath.Dir(here), "..", "..", "tests", "vectors", "interop-mode.json")
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("reading the vectors: %v", err)
	}
	var v vectorFile
	if err := json.Unmarshal(raw, &v); err != nil {
		t.Fatal(err)
	}
	if len(v.KeyVectors) == 0 || len(v.ErrorVectors) == 0 || len(v.ValueVectors) == 0 {
		t.Fatal("the vector file has no vectors")
	}
	return v
}

// errInexpressible: the tagged value has no Go form (an integer beyond
// the 64-bit types, a datetime without an offset: a time.Time always has
// one).
var errInexpressible = errors.New("not expressible in Go")

// untag turns the file's tagged JSON into Go values.
func untag(raw json.RawMessage) (any, error) {
	dec := json.NewDecoder(strings.NewReader(string(raw)))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, err
	}
	return untagValue(v)
}

func untagValue(v any) (any, error) {
	switch x := v.(type) {
	case json.Number:
		return parseInt(string(x))
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			u, err := untagValue(e)
			if err != nil {
				return nil, err
			}
			out[i] = u
		}
		return out, nil
	case map[string]any:
		if len(x) == 1 {
			for k, e := range x {
				s, _ := e.(string)
				switch k {
				case "$int":
					return parseInt(s)
				case "$float":
					f, err := strconv.ParseFloat(s, 64)
					if err != nil && !math.IsInf(f, 0) { // 1e999 overflows to ±Inf on purpose
						return nil, err
					}
					return f, nil
				case "$bytes":
					return hex.DecodeString(s)
				case "$uuid":
					return cachekit.ParseUUID(s)
				case "$datetime":
					t, err := time.Parse(time.RFC3339Nano, s)
					if err != nil {
						return nil, errInexpressible
					}
					return t, nil
				case "$set":
					elems, err := untagValue(e)
					if err != nil {
						return nil, err
					}
					return cachekit.Set(elems.([]any)), nil
				default:
					if strings.HasPrefix(k, "$") {
						return nil, fmt.Errorf("unknown tag %s", k)
					}
				}
			}
		}
		out := make(map[string]any, len(x))
		for k, e := range x {
			u, err := untagValue(e)
			if err != nil {
				return nil, err
			}
			out[k] = u
		}
		return out, nil
	}
	return v, nil
}

func parseInt(s string) (any, error) {
	if i, err := strconv.ParseInt(s, 10, 64); err == nil {
		return i, nil
	}
	if u, err := strconv.ParseUint(s, 10, 64); err == nil {
		return u, nil
	}
	return nil, errInexpressible
}

// interopCaches opens one interop namespace per vector namespace.
type interopCaches struct {
	t      *testing.T
	client *cachekit.Client
	open   map[string]*cachekit.Cache
}

func (c *interopCaches) get(ns string) (*cachekit.Cache, error) {
	if k, ok := c.open[ns]; ok {
		return k, nil
	}
	k, err := c.client.Cache(ns, cachekit.Options{Format: cachekit.Interop})
	if err != nil {
		return nil, err
	}
	c.t.Cleanup(func() { _ = k.Close() })
	c.open[ns] = k
	return k, nil
}

// keyOf is the key of (ns, op, args), or the error refusing it: an
// operation the core refuses makes Wrap panic with it.
func keyOf(caches *interopCaches, ns, op string, args []any) (key string, err error) {
	k, err := caches.get(ns)
	if err != nil {
		return "", err
	}
	defer func() {
		if p := recover(); p != nil {
			e, ok := p.(error)
			if !ok {
				panic(p)
			}
			key, err = "", e
		}
	}()
	f := cachekit.Wrap[int](k, op, nil)
	return f.Key(args...)
}

func TestProtocolKeyVectors(t *testing.T) {
	v := loadVectors(t)
	c, err := cachekit.New(cachekit.WithRedisURL(""))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	caches := &interopCaches{t: t, client: c, open: map[string]*cachekit.Cache{}}
	for _, kv := range v.KeyVectors {
		args, err := untag(kv.Args)
		if err != nil {
			t.Errorf("%s: %v", kv.Name, err)
			continue
		}
		got, err := keyOf(caches, kv.Namespace, kv.Operation, args.([]any))
		if err != nil {
			t.Errorf("%s: %v", kv.Name, err)
			continue
		}
		if got != kv.ExpectedKey {
			t.Errorf("%s: key %s, want %s", kv.Name, got, kv.ExpectedKey)
		}
	}
	t.Logf("%d key vectors checked", len(v.KeyVectors))
}

// Error vectors whose input Go cannot even hold; every other vector must
// be refused by the Go encoder or the core. The list is pinned so that a
// new vector is never silently left out.
var inexpressibleErrorVectors = []string{
	"reject_int_overflow", "reject_int_underflow", "reject_naive_datetime",
	"reject_naive_datetime_nested", "reject_int_overflow_in_list", "reject_int_underflow_in_map",
	"reject_int_overflow_in_map", "reject_int_underflow_in_list",
}

func TestProtocolErrorVectors(t *testing.T) {
	v := loadVectors(t)
	c, err := cachekit.New(cachekit.WithRedisURL(""))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	caches := &interopCaches{t: t, client: c, open: map[string]*cachekit.Cache{}}
	var inexpressible []string
	for _, ev := range v.ErrorVectors {
		args, err := untag(ev.Args)
		if errors.Is(err, errInexpressible) {
			inexpressible = append(inexpressible, ev.Name)
			continue
		}
		if err != nil {
			t.Errorf("%s: %v", ev.Name, err)
			continue
		}
		ns, op := "t", "op"
		if ev.Namespace != nil {
			ns = *ev.Namespace
		}
		if ev.Operation != nil {
			op = *ev.Operation
		}
		key, err := keyOf(caches, ns, op, args.([]any))
		if err == nil {
			t.Errorf("%s: accepted (key %s), want an error: %s", ev.Name, key, ev.Error)
			continue
		}
		var ce *cachekit.Error
		if !errors.As(err, &ce) || !(errors.Is(err, cachekit.ErrEncode) || errors.Is(err, cachekit.ErrConfig)) {
			t.Errorf("%s: error %v is not a cachekit ErrEncode/ErrConfig", ev.Name, err)
		}
	}
	sort.Strings(inexpressible)
	want := append([]string(nil), inexpressibleErrorVectors...)
	sort.Strings(want)
	if !reflect.DeepEqual(inexpressible, want) {
		t.Fatalf("inexpressible error vectors %v, want exactly %v", inexpressible, want)
	}
	t.Logf("%d error vectors refused, %d have no Go form: %v", len(v.ErrorVectors)-len(inexpressible), len(inexpressible), inexpressible)
}

func TestProtocolValueVectors(t *testing.T) {
	v := loadVectors(t)
	for _, vv := range v.ValueVectors {
		val, err := untag(vv.Value)
		if err != nil {
			t.Errorf("%s: %v", vv.Name, err)
			continue
		}
		got, err := cachekit.EncodeValueForTest(val)
		if err != nil {
			t.Errorf("%s: %v", vv.Name, err)
			continue
		}
		if hex.EncodeToString(got) != vv.CanonicalHex {
			t.Errorf("%s: Go writes %x, want %s", vv.Name, got, vv.CanonicalHex)
		}
		// And the reader gives the value back (a datetime marker as time.Time).
		back, err := cachekit.DecodeAnyForTest(hexBytes(t, vv.CanonicalHex))
		if err != nil {
			t.Errorf("%s: reading the canonical bytes: %v", vv.Name, err)
			continue
		}
		if m, ok := val.(map[string]any); ok && m["__datetime__"] == true {
			want, _ := time.Parse(time.RFC3339Nano, m["value"].(string))
			if tm, ok := back.(time.Time); !ok || !tm.Equal(want) {
				t.Errorf("%s: read %#v, want the time %v", vv.Name, back, want)
			}
			// A time.Time value writes the same marker bytes.
			if b, err := cachekit.EncodeValueForTest(want); err != nil || hex.EncodeToString(b) != vv.CanonicalHex {
				t.Errorf("%s: time.Time writes %x (%v), want %s", vv.Name, b, err, vv.CanonicalHex)
			}
			continue
		}
		if !reflect.DeepEqual(back, val) {
			t.Errorf("%s: read %#v, want %#v", vv.Name, back, val)
		}
	}
}

func TestProtocolReaderVectors(t *testing.T) {
	v := loadVectors(t)
	for _, rv := range v.ReaderAccept {
		got, err := cachekit.DecodeAnyForTest(hexBytes(t, rv.hex()))
		if err != nil {
			t.Errorf("%s: refused: %v", rv.Name, err)
			continue
		}
		if len(rv.Value) == 0 {
			continue
		}
		want, err := untag(rv.Value)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("%s: read %#v, want %#v", rv.Name, got, want)
		}
	}
	for _, rv := range v.ReaderReject {
		if got, err := cachekit.DecodeAnyForTest(hexBytes(t, rv.hex())); err == nil {
			t.Errorf("%s: accepted as %#v", rv.Name, got)
		}
		if _, err := cachekit.DecodeForTest[map[string]any](hexBytes(t, rv.hex())); err == nil {
			t.Errorf("%s: accepted into map[string]any", rv.Name)
		}
		type obj struct {
			Name string `json:"name"`
			Age  int    `json:"age"`
		}
		if _, err := cachekit.DecodeForTest[obj](hexBytes(t, rv.hex())); err == nil {
			t.Errorf("%s: accepted into a struct", rv.Name)
		}
	}
}

func hexBytes(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func hexOf(s string) string { return hex.EncodeToString([]byte(s)) }
