//go:build cgo

package cachekit

import (
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"time"
)

// Client is the process's connection to the cachekit core: settings, the
// Redis connections and the per-process state. Make one per process with
// New and share it between goroutines; Close it before the process exits.
type Client struct {
	mu     sync.RWMutex // held for reading during calls, for writing by Close
	core   coreClient
	closed bool
}

// Option is a client setting given to New. Settings not given come from
// the CACHEKIT_* environment (read by the core), then the core's defaults.
type Option func(map[string]any)

// WithSetting sets any core setting by its name in the core's README
// ("redis_url", "connection_pool_size", "socket_timeout", ...). The core
// validates it: a bad value makes New fail with ErrConfig.
func WithSetting(name string, value any) Option {
	return func(m map[string]any) { m[name] = value }
}

// WithRedisURL sets the Redis URL (redis://, rediss://, user:pass@). An
// empty URL makes the client L1-only whatever the environment says.
func WithRedisURL(url string) Option { return WithSetting("redis_url", url) }

// WithDefaultTTL sets the TTL of namespaces that set none (whole seconds).
func WithDefaultTTL(d time.Duration) Option { return WithSetting("default_ttl", seconds(d)) }

// WithKeyPrefix puts prefix before every Redis key.
func WithKeyPrefix(prefix string) Option { return WithSetting("key_prefix", prefix) }

// WithTenantID scopes every key to a tenant (t:{tenant}: before the key).
func WithTenantID(id string) Option { return WithSetting("tenant_id", id) }

// WithMasterKey sets the encryption master key (64 hex digits) used by
// namespaces that turn encryption on.
func WithMasterKey(hexKey string) Option { return WithSetting("master_key", hexKey) }

// WithL1 turns the in-process L1 cache on or off for every namespace
// (a namespace's own option wins).
func WithL1(enabled bool) Option { return WithSetting("l1_enabled", enabled) }

// WithL1MaxSizeMB bounds each namespace's L1 in MiB.
func WithL1MaxSizeMB(mb int) Option { return WithSetting("l1_max_size_mb", mb) }

// WithPoolSize sets the number of multiplexed Redis connections.
func WithPoolSize(n int) Option { return WithSetting("connection_pool_size", n) }

// WithSocketTimeout bounds Redis reads and writes (the adaptive timeout of
// each namespace works within it).
func WithSocketTimeout(d time.Duration) Option { return WithSetting("socket_timeout", d.Seconds()) }

// WithConnectTimeout bounds connecting to Redis.
func WithConnectTimeout(d time.Duration) Option {
	return WithSetting("socket_connect_timeout", d.Seconds())
}

var abiOnce sync.Once
var abiErr error

func checkABI() error {
	abiOnce.Do(func() {
		if got := coreABIVersion(); got != abiVersion {
			abiErr = &Error{Kind: ErrABIMismatch, Op: "loading the core",
				Message: fmt.Sprintf("the linked libcachekit (version %s) has ABI version %d, but this Go package "+
					"needs ABI version %d; rebuild the core from the same checkout (cargo build --lib) "+
					"or point CGO_LDFLAGS at a matching libcachekit.a", coreVersion(), got, abiVersion)}
		}
	})
	return abiErr
}

// CoreVersion is the version of the linked core library.
func CoreVersion() string { return coreVersion() }

// New creates a client. Without a Redis URL (WithRedisURL,
// CACHEKIT_REDIS_URL or REDIS_URL) it is L1-only. No connection is made
// until first use. Errors match ErrConfig (bad setting) or ErrABIMismatch.
func New(opts ...Option) (*Client, error) {
	if err := checkABI(); err != nil {
		return nil, err
	}
	var cfg []byte
	if len(opts) > 0 {
		m := map[string]any{}
		for _, o := range opts {
			o(m)
		}
		b, err := json.Marshal(m)
		if err != nil {
			return nil, &Error{Kind: ErrConfig, Op: "creating the client", Message: err.Error()}
		}
		cfg = cString(string(b))
	}
	core, err := newCoreClient(cfg)
	if err != nil {
		return nil, err
	}
	return &Client{core: core}, nil
}

// Flush waits, at most timeout, for the Redis writes made behind callers
// (a miss returns once its value is in L1; the Redis write follows) and
// returns how many are still under way.
func (c *Client) Flush(timeout time.Duration) (int, error) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	if c.closed {
		return 0, ErrClosed
	}
	n, err := c.core.flush(uint64(timeout.Milliseconds()))
	return int(n), err
}

// Metrics is the Prometheus exposition text (format 0.0.4) of every cache
// of this client, for a /metrics handler.
func (c *Client) Metrics() (string, error) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	if c.closed {
		return "", ErrClosed
	}
	b, err := c.core.metrics()
	return string(b), err
}

// Close waits (at most 5 s) for writes behind callers, then closes the
// client: every later call on it and on the caches made from it returns
// ErrClosed and writes nothing. Calling Close twice is harmless.
func (c *Client) Close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return nil
	}
	c.closed = true
	// The core lands the writes behind callers first; then every call on
	// this client's caches returns ErrClosed and writes nothing (the caches
	// keep the core's client alive, closed, after the handle is freed).
	_, err := c.core.close()
	c.core.free()
	return err
}

// cString is s as NUL-terminated bytes for the C ABI. A NUL inside s
// would silently cut it short, so it becomes a visible U+FFFD instead;
// namespaces and operations holding one are then refused by the core.
func cString(s string) []byte {
	if strings.IndexByte(s, 0) >= 0 {
		s = strings.ReplaceAll(s, "\x00", "\uFFFD")
	}
	b := make([]byte, len(s)+1)
	copy(b, s)
	return b
}

func seconds(d time.Duration) int64 {
	s := int64(d / time.Second)
	if s < 1 && d > 0 {
		s = 1
	}
	return s
}
