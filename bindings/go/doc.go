// Package cachekit caches Go functions in the cachekit core: an in-process
// L1 in front of Redis (L2), shared with C, Python, PHP and Node programs
// through the same keys and value format (the cachekit protocol).
//
//	client, err := cachekit.New()                     // CACHEKIT_* environment; L1-only without a Redis URL
//	defer client.Close()                              // flushes writes made behind callers
//	users, err := client.Cache("users", cachekit.Options{TTL: time.Hour})
//	getUser := cachekit.Wrap1(users, "get_user", func(ctx context.Context, id int) (User, error) { ... })
//	u, err := getUser.Call(ctx, 42)                   // miss: runs the function once; then hits
//
// The core owns all policy: key derivation, L1, Redis, encoding,
// encryption, single-flight fills, circuit breaker, timeouts. This package
// encodes arguments and values as MessagePack (vmihailenco/msgpack) and
// maps the core's statuses to errors usable with errors.Is.
//
// It links the Rust core statically through cgo: the module as released
// carries the prebuilt libcachekit.a of each supported platform; a checkout
// links ../../target/release (see README.md, "Install"). Without cgo the
// package does not build (nocgo.go says why).
package cachekit
