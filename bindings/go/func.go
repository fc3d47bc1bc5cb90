//go:build cgo

package cachekit

import (
	"context"
	"errors"
	"log/slog"
	"reflect"
	"regexp"
	"runtime"
	"strings"
)

// A cached function: Wrap* bind a function to a Cache and an operation
// name. Calling it derives the key from (namespace, operation, arguments)
// in the core, which returns the cached value (L1, then Redis) or makes
// this caller the only one, in the process and across processes, to run
// the function; the others wait for its value.
//
// Contexts: ctx is checked before each call into the core, and a caller
// waiting for another caller's fill (or for Redis) stops waiting when ctx
// is done and returns ctx.Err(); the core call it leaves behind ends on
// its own, since every Redis operation is bounded by the namespace's
// adaptive timeout and every wait by Options.FillWait. ctx is passed on
// to the function; an early refresh runs it with context.WithoutCancel.
//
// Errors: the function's error is returned as is and never cached. A
// result that cannot be encoded is returned, not cached, and logged. A
// cached value that cannot be decoded into T is dropped from the cache
// and recomputed: never a wrong value, never an error. Cache failures
// (Redis down or slow) are never returned (fail-open) unless the
// namespace is fail-closed (ErrBackend).

type operation struct {
	cache *Cache
	op    []byte // NUL-terminated
	name  string
}

// newOperation panics, as regexp.MustCompile does, when the operation name
// is invalid for the namespace (the core's segment rules: strict in
// interop format), with the core's *Error (ErrInvalidKey): a bad name is
// a programming error, reported where the function is wrapped rather than
// at its first call. The core checks the name (a key of no arguments);
// the wrapper does not repeat its rules.
func newOperation(c *Cache, name string, fn any) operation {
	if v := reflect.ValueOf(fn); name == "" && v.IsValid() && !v.IsNil() { // a nil fn keeps "": Key only
		name = defaultOperation(fn, c.format == Interop)
	}
	op, err := segment(name, "operation")
	if err == nil && c.acquire() == nil { // a closed Cache: ErrClosed at the call
		_, err = c.core.makeKey(op, noArgs)
		c.release()
	}
	if err != nil {
		panic(err)
	}
	return operation{cache: c, op: op, name: name}
}

// Operation is the operation name in the cache keys.
func (o *operation) Operation() string { return o.name }

// Cache is the namespace the function is cached in.
func (o *operation) Cache() *Cache { return o.cache }

// Clear deletes every cached entry of the operation (every argument list)
// from L1 (in every process) and L2, and returns the L2 keys deleted.
func (o *operation) Clear(ctx context.Context) (int, error) {
	if err := o.ready(ctx); err != nil {
		return 0, err
	}
	defer o.cache.release()
	n, err := o.cache.core.clearOperation(o.op)
	return int(n), err
}

func (o *operation) ready(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	return o.cache.acquire()
}

// withArgs encodes a call's arguments and runs f on them with the cache held.
func withArgs[T any](o *operation, ctx context.Context, args []any, f func(a []byte) (T, error)) (T, error) {
	var zero T
	a, err := encodeArgs(args)
	if err != nil {
		return zero, err
	}
	if err := o.ready(ctx); err != nil {
		return zero, err
	}
	defer o.cache.release()
	return f(a)
}

func (o *operation) invalidate(ctx context.Context, args []any) (bool, error) {
	return withArgs(o, ctx, args, func(a []byte) (bool, error) { return o.cache.core.del(o.op, a) })
}

func (o *operation) key(args []any) (string, error) {
	return withArgs(o, context.Background(), args, func(a []byte) (string, error) { return o.cache.core.makeKey(o.op, a) })
}

func (o *operation) exists(ctx context.Context, args []any) (bool, error) {
	return withArgs(o, ctx, args, func(a []byte) (bool, error) { return o.cache.core.exists(o.op, a) })
}

type fillResult struct {
	data  []byte
	found bool
	lease coreLease
	err   error
}

// lookup returns the cached value, or a lease to compute it.
func (o *operation) lookup(ctx context.Context, args []byte) fillResult {
	if err := o.ready(ctx); err != nil {
		return fillResult{err: err}
	}
	c := o.cache
	// An L1 hit never blocks: one foreign call, on this goroutine. The fill
	// after a peek miss costs one more call, next to a Redis round trip.
	if c.l1 {
		if data, found, err := c.core.peek(o.op, args); err != nil || found {
			c.release()
			return fillResult{data: data, found: found, err: err}
		}
	}
	if ctx.Done() == nil {
		// Nothing can cancel: block in the core.
		var r fillResult
		r.data, r.found, r.lease, r.err = c.core.fill(o.op, args)
		c.release()
		return r
	}
	// The fill may wait for Redis or another caller: wait where ctx can
	// interrupt. The handle stays held until the core returns.
	ch := make(chan fillResult, 1)
	go func() {
		var r fillResult
		r.data, r.found, r.lease, r.err = c.core.fill(o.op, args)
		c.release()
		ch <- r
	}()
	select {
	case r := <-ch:
		return r
	case <-ctx.Done():
		go func() {
			// Nobody will compute: hand the duty to the next waiter.
			if r := <-ch; r.lease.valid() {
				r.lease.abort()
			}
		}()
		return fillResult{err: ctx.Err()}
	}
}

func call[T any](ctx context.Context, o *operation, args []byte, compute func(context.Context) (T, error)) (T, error) {
	var zero T
	r := o.lookup(ctx, args)
	if r.err != nil {
		return zero, r.err
	}
	if r.lease.valid() && !r.found {
		return fillLease(ctx, o, r.lease, compute)
	}
	if r.lease.valid() {
		// An early refresh is due: return the value now, refresh behind.
		go refresh(context.WithoutCancel(ctx), o, r.lease, compute)
	}
	var v T
	if err := decodeInto(r.data, &v); err != nil {
		o.cache.undecodable(o, args, err)
		return compute(ctx)
	}
	return v, nil
}

// fillLease runs compute under the lease and stores its result. An error
// or a panic aborts the lease: nothing is cached and a waiter takes over.
func fillLease[T any](ctx context.Context, o *operation, lease coreLease, compute func(context.Context) (T, error)) (T, error) {
	done := false
	defer func() {
		if !done {
			lease.abort()
		}
	}()
	v, err := compute(ctx)
	if err != nil {
		return v, err
	}
	done = true
	return v, store(o, lease, v)
}

func refresh[T any](ctx context.Context, o *operation, lease coreLease, compute func(context.Context) (T, error)) {
	defer func() {
		if p := recover(); p != nil {
			logf(slog.LevelWarn, "cachekit: background refresh panicked", o, "panic", p)
		}
	}()
	if _, err := fillLease(ctx, o, lease, compute); err != nil {
		logf(slog.LevelWarn, "cachekit: background refresh failed", o, "error", err)
	}
}

// store completes the lease with v. Only a fail-closed write error is
// returned; any other failure to cache is logged.
func store[T any](o *operation, lease coreLease, v T) error {
	b, err := encodeValue(v)
	if err != nil {
		lease.abort()
		logf(slog.LevelWarn, "cachekit: result not cached: cannot encode it as MessagePack", o, "type", reflect.TypeOf(v), "error", err)
		return nil
	}
	if err := lease.complete(b, 0); err != nil {
		if errors.Is(err, ErrBackend) {
			return err
		}
		logf(slog.LevelWarn, "cachekit: result not cached", o, "error", err)
	}
	return nil
}

func (c *Cache) undecodable(o *operation, args []byte, err error) {
	if c.acquire() != nil {
		return
	}
	defer c.release()
	c.core.discard(o.op, args, "the Go wrapper cannot decode it: "+err.Error())
}

// ---------------------------------------------------------------- variadic

// Func is a cached function of any arguments (see Wrap).
type Func[T any] struct {
	operation
	fn func(ctx context.Context, args ...any) (T, error)
}

// Wrap caches fn in c under operation (""; derived from fn's name). The
// arguments, in order, form the key: values of equal MessagePack meaning
// give equal keys (int8(2), uint64(2), 2.0), so do equal calls from other
// languages with the same namespace and operation. Every Wrap* panics with
// an *Error matching ErrInvalidKey (the core's message) when operation is
// not a valid name for c's format (interop: ^[a-z0-9][a-z0-9._-]{0,63}$).
func Wrap[T any](c *Cache, operation string, fn func(ctx context.Context, args ...any) (T, error)) *Func[T] {
	return &Func[T]{operation: newOperation(c, operation, fn), fn: fn}
}

// Call returns the cached result of fn(ctx, args...), computing it on a miss.
func (f *Func[T]) Call(ctx context.Context, args ...any) (T, error) {
	a, err := encodeArgs(args)
	if err != nil {
		var zero T
		return zero, err
	}
	return call(ctx, &f.operation, a, func(ctx context.Context) (T, error) { return f.fn(ctx, args...) })
}

// Invalidate deletes the entry of these arguments (L1 of every process, and
// L2) and tells whether there was one.
func (f *Func[T]) Invalidate(ctx context.Context, args ...any) (bool, error) {
	return f.invalidate(ctx, args)
}

// Key is the full Redis key of these arguments.
func (f *Func[T]) Key(args ...any) (string, error) { return f.key(args) }

// Exists tells whether these arguments have an entry in L1 or L2.
func (f *Func[T]) Exists(ctx context.Context, args ...any) (bool, error) {
	return f.exists(ctx, args)
}

// ---------------------------------------------------------------- typed

// Func0 is a cached function without arguments (see Wrap0).
type Func0[T any] struct {
	operation
	fn func(context.Context) (T, error)
}

// Wrap0 caches a function without arguments (one entry).
func Wrap0[T any](c *Cache, operation string, fn func(context.Context) (T, error)) *Func0[T] {
	return &Func0[T]{operation: newOperation(c, operation, fn), fn: fn}
}

var noArgs = []byte{0x90}

func (f *Func0[T]) Call(ctx context.Context) (T, error) { return call(ctx, &f.operation, noArgs, f.fn) }
func (f *Func0[T]) Invalidate(ctx context.Context) (bool, error) {
	return f.invalidate(ctx, nil)
}
func (f *Func0[T]) Key() (string, error) { return f.key(nil) }

// Func1 is a cached function of one argument (see Wrap1).
type Func1[A, T any] struct {
	operation
	fn func(context.Context, A) (T, error)
}

// Wrap1 caches a function of one argument, keyed by it.
func Wrap1[A, T any](c *Cache, operation string, fn func(context.Context, A) (T, error)) *Func1[A, T] {
	return &Func1[A, T]{operation: newOperation(c, operation, fn), fn: fn}
}

func (f *Func1[A, T]) Call(ctx context.Context, a A) (T, error) {
	args, err := encodeArgs([]any{a})
	if err != nil {
		var zero T
		return zero, err
	}
	return call(ctx, &f.operation, args, func(ctx context.Context) (T, error) { return f.fn(ctx, a) })
}
func (f *Func1[A, T]) Invalidate(ctx context.Context, a A) (bool, error) {
	return f.invalidate(ctx, []any{a})
}
func (f *Func1[A, T]) Key(a A) (string, error) { return f.key([]any{a}) }

// Func2 is a cached function of two arguments (see Wrap2).
type Func2[A, B, T any] struct {
	operation
	fn func(context.Context, A, B) (T, error)
}

// Wrap2 caches a function of two arguments, keyed by both in order.
func Wrap2[A, B, T any](c *Cache, operation string, fn func(context.Context, A, B) (T, error)) *Func2[A, B, T] {
	return &Func2[A, B, T]{operation: newOperation(c, operation, fn), fn: fn}
}

func (f *Func2[A, B, T]) Call(ctx context.Context, a A, b B) (T, error) {
	args, err := encodeArgs([]any{a, b})
	if err != nil {
		var zero T
		return zero, err
	}
	return call(ctx, &f.operation, args, func(ctx context.Context) (T, error) { return f.fn(ctx, a, b) })
}
func (f *Func2[A, B, T]) Invalidate(ctx context.Context, a A, b B) (bool, error) {
	return f.invalidate(ctx, []any{a, b})
}
func (f *Func2[A, B, T]) Key(a A, b B) (string, error) { return f.key([]any{a, b}) }

// Func3 is a cached function of three arguments (see Wrap3).
type Func3[A, B, C, T any] struct {
	operation
	fn func(context.Context, A, B, C) (T, error)
}

// Wrap3 caches a function of three arguments, keyed by all three in order.
func Wrap3[A, B, C, T any](c *Cache, operation string, fn func(context.Context, A, B, C) (T, error)) *Func3[A, B, C, T] {
	return &Func3[A, B, C, T]{operation: newOperation(c, operation, fn), fn: fn}
}

func (f *Func3[A, B, C, T]) Call(ctx context.Context, a A, b B, c C) (T, error) {
	args, err := encodeArgs([]any{a, b, c})
	if err != nil {
		var zero T
		return zero, err
	}
	return call(ctx, &f.operation, args, func(ctx context.Context) (T, error) { return f.fn(ctx, a, b, c) })
}
func (f *Func3[A, B, C, T]) Invalidate(ctx context.Context, a A, b B, c C) (bool, error) {
	return f.invalidate(ctx, []any{a, b, c})
}
func (f *Func3[A, B, C, T]) Key(a A, b B, c C) (string, error) { return f.key([]any{a, b, c}) }

// ---------------------------------------------------------------- names

var (
	opBad     = regexp.MustCompile(`[^A-Za-z0-9._-]`)
	strictBad = regexp.MustCompile(`[^a-z0-9._-]`)
	dots      = regexp.MustCompile(`\.\.+`)
)

// defaultOperation folds the function's Go name ("pkg.(*T).Method-fm",
// "pkg.fetch", "pkg.main.func1") into the key segment's characters. Name
// functions explicitly to share entries across languages: a closure's
// generated name changes when the code around it does.
func defaultOperation(fn any, strict bool) string {
	name := "function"
	if v := reflect.ValueOf(fn); v.Kind() == reflect.Func && !v.IsNil() {
		if f := runtime.FuncForPC(v.Pointer()); f != nil {
			name = f.Name()
		}
	}
	if i := strings.LastIndexByte(name, '/'); i >= 0 {
		name = name[i+1:]
	}
	name = strings.TrimSuffix(name, "-fm")
	name = strings.NewReplacer("(*", "", "(", "", ")", "").Replace(name)
	if strict {
		name = strictBad.ReplaceAllString(strings.ToLower(name), "_")
		name = strings.TrimLeft(dots.ReplaceAllString(name, "."), "._-")
		if len(name) > 64 {
			name = name[:64]
		}
	} else {
		name = opBad.ReplaceAllString(name, "_")
		if len(name) > 128 {
			name = name[:128]
		}
	}
	if name == "" {
		name = "function"
	}
	return name
}
