//go:build cgo

package cachekit

import (
	"context"
	"encoding/json"
	"strings"
	"sync"
	"time"
)

// Format is how values are stored in Redis.
type Format string

const (
	// Envelope (the default): LZ4-compressed MessagePack with a checksum.
	Envelope Format = "envelope"
	// Interop: plain MessagePack with the protocol's exact keys, shared
	// with the cachekit SDKs' interop mode. Namespaces and operations must
	// match ^[a-z0-9][a-z0-9._-]{0,63}$.
	Interop Format = "interop"
)

// Options are the per-namespace options of Client.Cache; the zero value
// takes every default (the core's, or the CACHEKIT_* environment's).
// Field names follow the core's option names (README, "Per-namespace
// options"); Extra reaches any option without a field.
type Options struct {
	TTL    time.Duration // entry lifetime, whole seconds; 0: default_ttl
	Format Format        // Envelope (default) or Interop

	DisableL1   bool // no in-process L1 for this namespace
	L1MaxSizeMB int  // L1 byte budget in MiB; 0: the client's l1_max_size_mb
	L1Plaintext bool // keep decrypted values in L1 (encrypted namespaces)

	Encryption      bool     // AES-256-GCM; needs a master key
	MasterKey       string   // 64 hex digits; "": the client's (CACHEKIT_MASTER_KEY)
	DecryptOnlyKeys []string // old master keys that still decrypt (rotation), up to 3
	TenantID        string   // per-namespace tenant

	FailClosed      bool             // report L2 failures (ErrBackend) instead of failing open
	CircuitBreaker  *CircuitBreaker  // nil: on with the core's defaults
	AdaptiveTimeout *AdaptiveTimeout // nil: on with the core's defaults
	Backpressure    *Backpressure    // nil: on, 100 L2 operations in flight

	FillWait             time.Duration // how long to wait for another caller's fill; 0: 10 s
	NegativeTTL          time.Duration // cache nil results this long; 0: nil is not cached
	StaleWhileRevalidate time.Duration // serve stale entries this long while one caller refreshes
	EarlyRefreshBeta     float64       // probabilistic early refresh (XFetch); 0: off

	Extra map[string]any // any other core option, by its JSON name
}

// CircuitBreaker configures the per-namespace breaker (only transient L2
// errors count). Zero fields take the core's defaults.
type CircuitBreaker struct {
	Disabled         bool
	FailureThreshold int
	SuccessThreshold int
	RecoveryTimeout  time.Duration
	HalfOpenRequests int
}

// AdaptiveTimeout bounds each L2 operation by a multiple of the recent P95
// latency, within [Min, Max]. Zero fields take the core's defaults.
type AdaptiveTimeout struct {
	Disabled             bool
	Min, Max             time.Duration
	WindowSize           int
	PercentileMultiplier float64
}

// Backpressure caps L2 operations in flight; beyond the cap a call skips
// L2 (counted) instead of queueing.
type Backpressure struct {
	Disabled      bool
	MaxConcurrent int
}

func (o *Options) toCore() map[string]any {
	m := map[string]any{}
	if o.TTL > 0 {
		m["ttl"] = seconds(o.TTL)
	}
	if o.Format != "" {
		m["format"] = string(o.Format)
	}
	if o.DisableL1 {
		m["l1_enabled"] = false
	}
	if o.L1MaxSizeMB > 0 {
		m["l1_max_size_mb"] = o.L1MaxSizeMB
	}
	if o.L1Plaintext {
		m["l1_plaintext"] = true
	}
	if o.Encryption {
		m["encryption"] = true
	}
	if o.MasterKey != "" {
		m["master_key"] = o.MasterKey
	}
	if len(o.DecryptOnlyKeys) > 0 {
		m["decrypt_only_keys"] = o.DecryptOnlyKeys
	}
	if o.TenantID != "" {
		m["tenant_id"] = o.TenantID
	}
	if o.FailClosed {
		m["fail_closed"] = true
	}
	if b := o.CircuitBreaker; b != nil {
		c := map[string]any{"enabled": !b.Disabled}
		putPos(c, "failure_threshold", b.FailureThreshold)
		putPos(c, "success_threshold", b.SuccessThreshold)
		putPos(c, "half_open_requests", b.HalfOpenRequests)
		if b.RecoveryTimeout > 0 {
			c["recovery_timeout"] = b.RecoveryTimeout.Seconds()
		}
		m["circuit_breaker"] = c
	}
	if t := o.AdaptiveTimeout; t != nil {
		c := map[string]any{"enabled": !t.Disabled}
		if t.Min > 0 {
			c["min_timeout"] = t.Min.Seconds()
		}
		if t.Max > 0 {
			c["max_timeout"] = t.Max.Seconds()
		}
		putPos(c, "window_size", t.WindowSize)
		if t.PercentileMultiplier > 0 {
			c["percentile_multiplier"] = t.PercentileMultiplier
		}
		m["adaptive_timeout"] = c
	}
	if b := o.Backpressure; b != nil {
		c := map[string]any{"enabled": !b.Disabled}
		putPos(c, "max_concurrent_requests", b.MaxConcurrent)
		m["backpressure"] = c
	}
	if o.FillWait > 0 {
		m["fill_wait_ms"] = o.FillWait.Milliseconds()
	}
	if o.NegativeTTL > 0 {
		m["negative_ttl"] = seconds(o.NegativeTTL)
	}
	if o.StaleWhileRevalidate > 0 {
		m["stale_while_revalidate"] = seconds(o.StaleWhileRevalidate)
	}
	if o.EarlyRefreshBeta > 0 {
		m["early_refresh_beta"] = o.EarlyRefreshBeta
	}
	for k, v := range o.Extra {
		m[k] = v
	}
	return m
}

func putPos(m map[string]any, k string, v int) {
	if v > 0 {
		m[k] = v
	}
}

// Cache is one namespace with its options: what cached functions hold.
// Safe for concurrent use. Each Cache has its own L1; deletes and clears
// reach every Cache of the namespace.
type Cache struct {
	mu        sync.RWMutex // held for reading during calls, for writing by Close
	core      coreCache
	closed    bool
	namespace string
	format    Format
	l1        bool // L1 not turned off by the options: peek before a fill
}

// Cache opens a namespace. Errors match ErrConfig (an unknown or bad
// option), ErrInvalidKey (a namespace the format does not allow) or
// ErrEncryption (encryption without a usable master key).
func (c *Client) Cache(namespace string, opts Options) (*Cache, error) {
	ns, err := segment(namespace, "namespace")
	if err != nil {
		return nil, err
	}
	b, err := json.Marshal(opts.toCore())
	if err != nil {
		return nil, &Error{Kind: ErrConfig, Op: "opening the namespace", Message: err.Error()}
	}
	c.mu.RLock()
	defer c.mu.RUnlock()
	if c.closed {
		return nil, ErrClosed
	}
	core, err := c.core.newCache(ns, cString(string(b)))
	if err != nil {
		return nil, err
	}
	f := opts.Format
	if f == "" {
		f = Envelope
	}
	return &Cache{core: core, namespace: namespace, format: f, l1: !opts.DisableL1}, nil
}

// segment is a namespace or operation as a C string; a NUL byte would cut
// it short in C, so it is refused here.
func segment(s, what string) ([]byte, error) {
	if strings.IndexByte(s, 0) >= 0 {
		return nil, &Error{Kind: ErrInvalidKey, Op: "checking the " + what, Message: "it contains a NUL byte"}
	}
	return cString(s), nil
}

// Namespace is the namespace's name.
func (c *Cache) Namespace() string { return c.namespace }

// Format is the namespace's value format.
func (c *Cache) Format() Format { return c.format }

// acquire holds the handle open for one call.
func (c *Cache) acquire() error {
	c.mu.RLock()
	if c.closed {
		c.mu.RUnlock()
		return ErrClosed
	}
	return nil
}

func (c *Cache) release() { c.mu.RUnlock() }

// Close frees the handle; calls after it return ErrClosed. In-flight
// calls finish first.
func (c *Cache) Close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.closed {
		c.closed = true
		c.core.free()
	}
	return nil
}

// Clear deletes every entry of the namespace from L1 (in every process)
// and L2, and returns the number of L2 keys deleted.
func (c *Cache) Clear(ctx context.Context) (int, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	if err := c.acquire(); err != nil {
		return 0, err
	}
	defer c.release()
	n, err := c.core.clear()
	return int(n), err
}

// Health is the core's health report of a namespace, as decoded JSON:
// namespace, backend, l1, circuit_breaker, backpressure, adaptive_timeout,
// stats (hits, misses, corrupt_entries, ...), settings without secrets.
type Health map[string]any

// Health reports the namespace's state without any I/O.
func (c *Cache) Health() (Health, error) { return c.health(false) }

// CheckHealth is Health plus an active PING of L2 with its latency.
func (c *Cache) CheckHealth(ctx context.Context) (Health, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	return c.health(true)
}

func (c *Cache) health(active bool) (Health, error) {
	if err := c.acquire(); err != nil {
		return nil, err
	}
	defer c.release()
	b, err := c.core.health(active)
	if err != nil {
		return nil, err
	}
	var h Health
	if err := json.Unmarshal(b, &h); err != nil {
		return nil, &Error{Kind: ErrInternal, Op: "reading health", Message: err.Error()}
	}
	return h, nil
}
