package cachekit

// The only file of the package that uses cgo: it converts between Go values
// and the C ABI of include/cachekit.h, and nothing else. Every other file
// sees the handles below as opaque Go types.
//
// Linking: the Rust core is linked as a static library, libcachekit.a. The
// link flags are per platform, in cgo_<goos>_<goarch>.go: the module as
// published (ci/package.sh) carries the stripped release library of each
// supported platform in lib/<goos>_<goarch>/ and the header in include/; in
// a checkout of the repository, ../../target/release and ../../include are
// used. Point the build elsewhere with CGO_LDFLAGS, whose -L directories
// come first:
//
//	CGO_LDFLAGS="-L/path/to/dir/with/libcachekit.a" go build ./...
//
// Without cgo the package does not build, and says so (nocgo.go).
//
// Rules kept here:
//   - Go memory passed to C (argument bytes, values, NUL-terminated operation
//     names) is borrowed for the call only; the core copies what it keeps.
//   - ck_last_error and the *_borrowed calls are per OS thread, so every call
//     that may need either runs with the goroutine locked to its thread
//     (runtime.LockOSThread is a few nanoseconds; a goroutine moving between
//     the call and the read would see another thread's state).
//   - Calls that may do I/O go through the C shim (ffi_shim.c), which
//     blocks asynchronous signals for their duration (see there why).
//   - Nothing Go-side panics while C is on the stack: the log callback
//     recovers.

/*
#cgo CFLAGS: -I${SRCDIR}/include -I${SRCDIR}/../../include
#include <stdlib.h>
#include "ffi_shim.h"
*/
import "C"

import (
	"runtime"
	"unsafe"
)

// abiVersion is the C ABI version this package was written for.
const abiVersion = 1

type coreClient struct{ p *C.ck_client }
type coreCache struct{ p *C.ck_cache }
type coreLease struct{ p *C.ck_lease }

func coreABIVersion() uint32 { return uint32(C.ck_abi_version()) }

func coreVersion() string { return C.GoString(C.ck_version()) }

// statusName is the core's name of a ck_status ("CK_BACKEND").
func statusName(status int) string { return C.GoString(C.ck_status_name(C.uint32_t(status))) }

// lastError reads the failing call's message; the caller holds the thread.
func lastError() string { return C.GoString(C.ck_last_error()) }

// check turns a status into an error; the caller holds the thread.
func check(st uint32, what string) error {
	if st == C.CK_OK {
		return nil
	}
	return statusError(int(st), what, lastError())
}

func u8(b []byte) *C.uint8_t {
	if len(b) == 0 {
		return nil
	}
	return (*C.uint8_t)(unsafe.Pointer(unsafe.SliceData(b)))
}

// cs views a NUL-terminated Go byte slice (see cString) as a C string.
func cs(b []byte) *C.char { return (*C.char)(unsafe.Pointer(unsafe.SliceData(b))) }

// takeBuf copies a library-owned buffer into Go memory and releases it.
func takeBuf(b *C.ck_buf) []byte {
	out := C.GoBytes(unsafe.Pointer(b.data), C.int(b.len))
	C.ck_buf_free(b)
	return out
}

func newCoreClient(configJSON []byte) (coreClient, error) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	var p *C.ck_client
	var cfg *C.char
	if configJSON != nil {
		cfg = cs(configJSON)
	}
	if err := check(C.ck_client_new(cfg, &p), "creating the client"); err != nil {
		return coreClient{}, err
	}
	return coreClient{p}, nil
}

func (c coreClient) free() { C.ckgo_client_free(c.p) }

func (c coreClient) flush(timeoutMs uint64) (uint64, error) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	var pending C.uint64_t
	err := check(uint32(C.ckgo_flush(c.p, C.uint64_t(timeoutMs), &pending)), "flushing writes")
	return uint64(pending), err
}

// close lands the writes behind callers, then the core refuses every call
// on the client and its caches with CK_CLOSED (ErrClosed).
func (c coreClient) close() (uint64, error) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	var pending C.uint64_t
	err := check(uint32(C.ck_client_close(c.p, &pending)), "closing the client")
	return uint64(pending), err
}

func (c coreClient) metrics() ([]byte, error) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	var buf C.ck_buf
	if err := check(C.ck_metrics(c.p, &buf), "reading metrics"); err != nil {
		return nil, err
	}
	return takeBuf(&buf), nil
}

func (c coreClient) newCache(namespace, optionsJSON []byte) (coreCache, error) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	var p *C.ck_cache
	if err := check(C.ck_cache_new(c.p, cs(namespace), cs(optionsJSON), &p), "opening the namespace"); err != nil {
		return coreCache{}, err
	}
	return coreCache{p}, nil
}

func (c coreCache) free() { C.ck_cache_free(c.p) }

func (c coreCache) makeKey(op, args []byte) (string, error) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	var buf C.ck_buf
	if err := check(C.ck_make_key(c.p, cs(op), u8(args), C.size_t(len(args)), &buf), "deriving the key"); err != nil {
		return "", err
	}
	return string(takeBuf(&buf)), nil
}

// fill is the miss path (and the hit path of caches without L1): one
// foreign call that finds the value or grants a lease. A lent value is copied before
// the thread is released, since the next borrowed call on the thread
// replaces it.
func (c coreCache) fill(op, args []byte) (value []byte, found bool, lease coreLease, err error) {
	runtime.LockOSThread()
	o := C.ckgo_fill_begin(c.p, cs(op), u8(args), C.size_t(len(args)))
	if uint32(o.status) != C.CK_OK {
		err = check(uint32(o.status), "looking up the value")
		runtime.UnlockOSThread()
		return nil, false, coreLease{}, err
	}
	if o.lease == nil || o.data != nil {
		value = C.GoBytes(unsafe.Pointer(o.data), C.int(o.len))
		found = true
	}
	runtime.UnlockOSThread()
	return value, found, coreLease{o.lease}, nil
}

// peek looks in L1 only (no I/O, never blocks): used before a fill that
// may wait, so that an L1 hit still costs one foreign call.
func (c coreCache) peek(op, args []byte) (value []byte, found bool, err error) {
	runtime.LockOSThread()
	o := C.ckgo_peek(c.p, cs(op), u8(args), C.size_t(len(args)))
	if uint32(o.status) != C.CK_OK {
		err = check(uint32(o.status), "looking up the value")
		runtime.UnlockOSThread()
		return nil, false, err
	}
	if o.data != nil {
		value = C.GoBytes(unsafe.Pointer(o.data), C.int(o.len))
		found = true
	}
	runtime.UnlockOSThread()
	return value, found, nil
}

func (l coreLease) valid() bool { return l.p != nil }

// complete always consumes the lease, even on error.
func (l coreLease) complete(value []byte, ttlMs int64) error {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	return check(uint32(C.ckgo_lease_complete(l.p, u8(value), C.size_t(len(value)), C.int64_t(ttlMs))), "storing the value")
}

func (l coreLease) abort() { C.ck_lease_abort(l.p) }

func (c coreCache) del(op, args []byte) (bool, error) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	var existed C.bool
	err := check(uint32(C.ckgo_delete(c.p, cs(op), u8(args), C.size_t(len(args)), &existed)), "deleting the entry")
	return bool(existed), err
}

func (c coreCache) exists(op, args []byte) (bool, error) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	var out C.bool
	err := check(uint32(C.ckgo_exists(c.p, cs(op), u8(args), C.size_t(len(args)), &out)), "checking the entry")
	return bool(out), err
}

func (c coreCache) ttlMs(op, args []byte) (int64, error) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	var out C.int64_t
	err := check(uint32(C.ckgo_ttl(c.p, cs(op), u8(args), C.size_t(len(args)), &out)), "reading the TTL")
	return int64(out), err
}

func (c coreCache) clear() (uint64, error) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	var n C.uint64_t
	err := check(uint32(C.ckgo_clear(c.p, &n)), "clearing the namespace")
	return uint64(n), err
}

func (c coreCache) clearOperation(op []byte) (uint64, error) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	var n C.uint64_t
	err := check(uint32(C.ckgo_clear_operation(c.p, cs(op), &n)), "clearing the operation")
	return uint64(n), err
}

// discard reports an entry this package could not decode; the core counts
// and deletes it in the background (it never waits).
func (c coreCache) discard(op, args []byte, reason string) {
	r := cString(reason)
	C.ck_discard(c.p, cs(op), u8(args), C.size_t(len(args)), cs(r))
}

func (c coreCache) health(active bool) ([]byte, error) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	var buf C.ck_buf
	var st uint32
	if active {
		st = uint32(C.ckgo_check_health(c.p, &buf))
	} else {
		st = uint32(C.ck_health(c.p, &buf))
	}
	if err := check(st, "reading health"); err != nil {
		return nil, err
	}
	return takeBuf(&buf), nil
}

func coreSetLog(minLevel uint8, on bool) error {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	flag := C.int(0)
	if on {
		flag = 1
	}
	return check(uint32(C.ckgo_set_log(C.uint8_t(minLevel), flag)), "installing the log callback")
}

//export goCachekitLog
func goCachekitLog(_ unsafe.Pointer, level C.uint8_t, json *C.char) {
	// Called from any thread, the core's own included: a panic here would
	// cross into Rust, so it stops at this frame.
	defer func() { _ = recover() }()
	deliverLog(uint8(level), C.GoString(json))
}

// coreStamp is set by ci.sh (-ldflags -X) to the linked library's size and
// mtime, so that a rebuilt core changes the link and is never masked by a
// cached test binary. Unused otherwise.
var coreStamp string

var _ = coreStamp
