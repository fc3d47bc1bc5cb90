//go:build cgo

package cachekit

import (
	"errors"
	"fmt"
)

// Sentinel errors, for errors.Is. Cache failures never reach the caller of
// a cached function (fail-open): these report programming and
// configuration errors, and L2 failures of fail-closed namespaces.
var (
	// ErrConfig: a setting, environment variable, option, namespace or
	// operation has an unusable value. ErrInvalidKey and ErrEncryption
	// errors also match ErrConfig.
	ErrConfig = errors.New("cachekit: configuration error")
	// ErrInvalidKey: a namespace or operation does not match the key
	// segment rules (strict in interop format).
	ErrInvalidKey = errors.New("cachekit: invalid key segment")
	// ErrInvalidArgument: a value the core refused at the boundary (a
	// string with a NUL byte, a length out of range).
	ErrInvalidArgument = errors.New("cachekit: invalid argument")
	// ErrEncode: arguments or a value cannot be encoded (NaN, an
	// unsupported type, an integer out of range, too large).
	ErrEncode = errors.New("cachekit: cannot encode")
	// ErrEncryption: encryption is on but misconfigured (missing or
	// malformed master key).
	ErrEncryption = errors.New("cachekit: encryption misconfigured")
	// ErrBackend: L2 failed and the namespace is fail-closed.
	ErrBackend = errors.New("cachekit: backend failed")
	// ErrLease: a fill lease was misused (a bug in this package).
	ErrLease = errors.New("cachekit: lease misused")
	// ErrInternal: a bug in the core was caught at the C boundary.
	ErrInternal = errors.New("cachekit: internal error")
	// ErrABIMismatch: the linked core speaks another ABI version.
	ErrABIMismatch = errors.New("cachekit: core ABI version mismatch")
	// ErrClosed: the client or cache was closed.
	ErrClosed = errors.New("cachekit: closed")
)

// Error is what the core reported: the sentinel it maps to, what this
// package was doing, and the core's message (from ck_last_error).
type Error struct {
	Kind    error  // one of the sentinels above
	Op      string // what was being done, e.g. "opening the namespace"
	Message string // the core's explanation
}

func (e *Error) Error() string {
	if e.Message == "" {
		return fmt.Sprintf("%v: %s", e.Kind, e.Op)
	}
	return fmt.Sprintf("%v: %s: %s", e.Kind, e.Op, e.Message)
}

// Unwrap lets errors.Is match the sentinel, and ErrConfig for the kinds
// that are configuration errors too.
func (e *Error) Unwrap() []error {
	if e.Kind == ErrInvalidKey || e.Kind == ErrEncryption {
		return []error{e.Kind, ErrConfig}
	}
	return []error{e.Kind}
}

// ck_status values (include/cachekit.h).
const (
	statusOK              = 0
	statusInvalidArgument = 1
	statusInvalidKey      = 2
	statusConfig          = 3
	statusEncode          = 4
	statusEncryption      = 5
	statusBackend         = 6
	statusLease           = 7
	statusPanic           = 8
	statusClosed          = 9
)

func statusError(status int, op, msg string) error {
	var kind error
	switch status {
	case statusInvalidArgument:
		kind = ErrInvalidArgument
	case statusInvalidKey:
		kind = ErrInvalidKey
	case statusConfig:
		kind = ErrConfig
	case statusEncode:
		kind = ErrEncode
	case statusEncryption:
		kind = ErrEncryption
	case statusBackend:
		kind = ErrBackend
	case statusLease:
		kind = ErrLease
	case statusClosed:
		kind = ErrClosed
	default:
		kind = ErrInternal
		msg = fmt.Sprintf("%s: %s", statusName(status), msg)
	}
	return &Error{Kind: kind, Op: op, Message: msg}
}
