package cachekit_test

// Key rotation (DecryptOnlyKeys), tenant isolation under encryption,
// negative caching (NegativeTTL), stale-while-revalidate and early refresh
// (EarlyRefreshBeta), against the test Redis. Refreshes are observed by
// handshakes (the refreshing function signals, then waits for the test);
// the only sleeps let a configured TTL pass.

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	cachekit "cachekit.dev/go"
)

// stat is one counter of the namespace's health report.
func stat(t testing.TB, c *cachekit.Cache, name string) float64 {
	t.Helper()
	h, err := c.Health()
	if err != nil {
		t.Fatal(err)
	}
	stats, _ := h["stats"].(map[string]any)
	n, ok := stats[name].(float64)
	if !ok {
		t.Fatalf("health has no stats.%s: %v", name, stats)
	}
	return n
}

// countedFunc is a cached function of one int argument returning
// "<label>-<id>", and the count of its runs.
type countedFunc struct {
	f     *cachekit.Func1[int, string]
	runs  *counter
	cache *cachekit.Cache
	c     *cachekit.Client
}

func openCounted(t *testing.T, c *cachekit.Client, ns, label string, o cachekit.Options) countedFunc {
	t.Helper()
	runs := &counter{}
	k := newCache(t, c, ns, o)
	f := cachekit.Wrap1(k, "get", func(ctx context.Context, id int) (string, error) {
		runs.inc()
		return fmt.Sprintf("%s-%d", label, id), nil
	})
	return countedFunc{f: f, runs: runs, cache: k, c: c}
}

// expect calls f(id) and checks the value, that no error reached the
// caller and how often the function has run in all.
func (cf countedFunc) expect(t *testing.T, what string, id int, want string, runs int64) {
	t.Helper()
	v, err := cf.f.Call(bg, id)
	if err != nil || v != want || cf.runs.get() != runs {
		t.Fatalf("%s: got %q, err %v, %d runs; want %q, no error, %d runs", what, v, err, cf.runs.get(), want, runs)
	}
}

// waitChanged waits (bounded) until key holds bytes other than old.
func (c *resp) waitChanged(t testing.TB, key string, old []byte) []byte {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		b := c.get(t, key)
		if b != nil && !bytes.Equal(b, old) {
			return b
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s still holds the old bytes (%d bytes) after 5 s", key, len(b))
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestDecryptOnlyKeysReadTheOldKeysEntriesAndWritesUseTheNewKey(t *testing.T) {
	oldKey := strings.Repeat("0a", 32)
	newKey := strings.Repeat("0b", 32)
	ns := uniqueNS(t)
	r := dialRedis(t, redisURL(t))
	// L1 off everywhere: every read below is a read of Redis.
	enc := func(master string, decryptOnly ...string) cachekit.Options {
		return cachekit.Options{Encryption: true, MasterKey: master, DecryptOnlyKeys: decryptOnly, DisableL1: true}
	}
	old := openCounted(t, newClient(t), ns, "old", enc(oldKey))
	rotated := openCounted(t, newClient(t), ns, "rotated", enc(newKey, oldKey))
	newOnly := openCounted(t, newClient(t), ns, "new", enc(newKey))

	old.expect(t, "written under the old key", 1, "old-1", 1)
	flush(t, old.c)
	k1, _ := old.f.Key(1)
	if raw := r.waitStored(t, k1); raw == nil || bytes.Contains(raw, []byte("old-1")) {
		t.Fatalf("stored %q: want ciphertext", raw)
	}

	// The new key with the old one as decrypt-only reads it: a hit.
	rotated.expect(t, "new key + old as decrypt-only, reading the old entry", 1, "old-1", 0)
	if n := stat(t, rotated.cache, "corrupt_entries"); n != 0 {
		t.Fatalf("the rotated reader counted %v undecryptable entries, want 0", n)
	}
	// The new key alone cannot: a counted miss, recomputed, no error.
	newOnly.expect(t, "new key alone, reading the old entry", 1, "new-1", 1)
	if n := stat(t, newOnly.cache, "corrupt_entries"); n < 1 {
		t.Fatalf("the new-key-only reader did not count the entry it cannot decrypt (corrupt_entries=%v)", n)
	}

	// Writes of the rotated client use the new key: the new key alone
	// reads them, the old key alone does not.
	rotated.expect(t, "rotated client writing", 2, "rotated-2", 1)
	flush(t, rotated.c)
	k2, _ := rotated.f.Key(2)
	if r.waitStored(t, k2) == nil {
		t.Fatalf("the rotated client's write of %s never landed", k2)
	}
	newOnly.expect(t, "new key alone, reading the rotated client's write", 2, "rotated-2", 1)
	old.expect(t, "old key alone, reading the rotated client's write", 2, "old-2", 2)
}

// Tenants of a client (WithTenantID) scope the Redis keys and derive their
// own encryption keys from the one master key.
func TestClientTenantsUnderEncryptionHaveTheirOwnKeysAndEntries(t *testing.T) {
	master := strings.Repeat("c3", 32)
	ns := uniqueNS(t)
	r := dialRedis(t, redisURL(t))
	open := func(tenant string) countedFunc {
		c := newClient(t, cachekit.WithTenantID(tenant), cachekit.WithMasterKey(master))
		return openCounted(t, c, ns, tenant, cachekit.Options{Encryption: true, DisableL1: true})
	}
	a, b := open("acme"), open("globex")
	ka, _ := a.f.Key(7)
	kb, _ := b.f.Key(7)
	if ka == kb || !strings.Contains(ka, "t:acme:") || !strings.Contains(kb, "t:globex:") {
		t.Fatalf("same namespace, operation and arguments under two tenants: keys %q and %q, want each scoped to its tenant", ka, kb)
	}
	a.expect(t, "tenant A", 7, "acme-7", 1)
	flush(t, a.c)
	rawA := r.waitStored(t, ka)
	b.expect(t, "tenant B after A wrote", 7, "globex-7", 1)
	flush(t, b.c)
	rawB := r.waitStored(t, kb)
	if rawA == nil || rawB == nil || bytes.Equal(rawA, rawB) ||
		bytes.Contains(rawA, []byte("acme-7")) || bytes.Contains(rawB, []byte("globex-7")) {
		t.Fatalf("stored under A %q and under B %q: want two distinct ciphertexts", rawA, rawB)
	}
	if got := r.get(t, ka); !bytes.Equal(got, rawA) {
		t.Fatal("tenant B's write changed tenant A's entry")
	}
	// Each tenant's entry is still its own, in another process of it.
	a2, b2 := open("acme"), open("globex")
	a2.expect(t, "tenant A, second client", 7, "acme-7", 0)
	b2.expect(t, "tenant B, second client", 7, "globex-7", 0)

	// Either tenant's ciphertext put under the other's key is not
	// readable there: a counted miss, recomputed, no error. Both directions.
	r.do(t, "SET", kb, string(rawA))
	b2.expect(t, "tenant B reading A's ciphertext", 7, "globex-7", 1)
	if n := stat(t, b2.cache, "corrupt_entries"); n < 1 {
		t.Fatalf("tenant B did not count A's entry as undecryptable (corrupt_entries=%v)", n)
	}
	r.do(t, "SET", ka, string(rawB))
	a2.expect(t, "tenant A reading B's ciphertext", 7, "acme-7", 1)
	if n := stat(t, a2.cache, "corrupt_entries"); n < 1 {
		t.Fatalf("tenant A did not count B's entry as undecryptable (corrupt_entries=%v)", n)
	}
}

// The namespace option TenantID keeps the key (the tenant is in the
// encryption: key derivation and AAD), so two tenants of one namespace
// meet at one Redis key and neither may read what the other wrote.
func TestNamespaceTenantsUnderEncryptionCannotReadEachOthersEntries(t *testing.T) {
	master := strings.Repeat("d4", 32)
	ns := uniqueNS(t)
	r := dialRedis(t, redisURL(t))
	open := func(tenant string) countedFunc {
		return openCounted(t, newClient(t), ns, tenant,
			cachekit.Options{Encryption: true, MasterKey: master, TenantID: tenant, DisableL1: true})
	}
	a, a2, b := open("tenant-a"), open("tenant-a"), open("tenant-b")
	key, _ := a.f.Key(7)
	if kb, _ := b.f.Key(7); kb != key {
		t.Fatalf("keys %q and %q: the namespace tenant was expected in the encryption only", key, kb)
	}

	a.expect(t, "tenant A", 7, "tenant-a-7", 1)
	flush(t, a.c)
	rawA := r.waitStored(t, key)
	a2.expect(t, "tenant A, second client (the entry is readable by its tenant)", 7, "tenant-a-7", 0)

	// A -> B: B cannot decrypt A's entry; it gets its own value.
	b.expect(t, "tenant B reading A's entry", 7, "tenant-b-7", 1)
	if n := stat(t, b.cache, "corrupt_entries"); n < 1 {
		t.Fatalf("tenant B did not count A's entry as undecryptable (corrupt_entries=%v)", n)
	}
	flush(t, b.c)
	rawB := r.waitChanged(t, key, rawA)
	if bytes.Contains(rawB, []byte("tenant-b-7")) {
		t.Fatalf("stored %q: want ciphertext", rawB)
	}
	// B -> A: A cannot decrypt B's entry; it gets its own value.
	a.expect(t, "tenant A reading B's entry", 7, "tenant-a-7", 2)
	if n := stat(t, a.cache, "corrupt_entries"); n < 1 {
		t.Fatalf("tenant A did not count B's entry as undecryptable (corrupt_entries=%v)", n)
	}
}

func TestNegativeTTLCachesANilResultForThatLong(t *testing.T) {
	const negTTL = time.Second
	c := newClient(t)
	k := newCache(t, c, uniqueNS(t), cachekit.Options{TTL: time.Hour, NegativeTTL: negTTL})
	var runs counter
	find := cachekit.Wrap1(k, "find", func(ctx context.Context, id int) (*User, error) {
		runs.inc()
		return nil, nil
	})
	for i := 1; i <= 2; i++ {
		if u, err := find.Call(bg, 1); u != nil || err != nil || runs.get() != 1 {
			t.Fatalf("call %d: %v %v, %d runs; want nil from one run (the nil is cached)", i, u, err, runs.get())
		}
	}
	flush(t, c)
	key, _ := find.Key(1)
	r := dialRedis(t, redisURL(t))
	if r.waitStored(t, key) == nil {
		t.Fatal("the nil result is not in Redis")
	}
	if ms, _ := r.do(t, "PTTL", key).(int64); ms <= 0 || ms > negTTL.Milliseconds() {
		t.Fatalf("the nil entry expires in %d ms, want NegativeTTL (%v), not the namespace's TTL", ms, negTTL)
	}
	// Another client (L1 off) gets the cached nil from Redis.
	var otherRuns counter
	other := cachekit.Wrap1(newCache(t, newClient(t), k.Namespace(), cachekit.Options{TTL: time.Hour, NegativeTTL: negTTL, DisableL1: true}),
		"find", func(ctx context.Context, id int) (*User, error) { otherRuns.inc(); return nil, nil })
	if u, err := other.Call(bg, 1); u != nil || err != nil || otherRuns.get() != 0 {
		t.Fatalf("another client: %v %v, %d runs; want the cached nil", u, err, otherRuns.get())
	}

	time.Sleep(negTTL + negTTL/2) // let the negative TTL pass
	if u, err := find.Call(bg, 1); u != nil || err != nil || runs.get() != 2 {
		t.Fatalf("after NegativeTTL: %v %v, %d runs; want a second run", u, err, runs.get())
	}
}

func TestANilResultIsNotCachedWithoutNegativeTTL(t *testing.T) {
	c := newClient(t)
	k := newCache(t, c, uniqueNS(t), cachekit.Options{TTL: time.Hour})
	var runs counter
	find := cachekit.Wrap1(k, "find", func(ctx context.Context, id int) (*User, error) {
		runs.inc()
		return nil, nil
	})
	for i := int64(1); i <= 2; i++ {
		if u, err := find.Call(bg, 1); u != nil || err != nil || runs.get() != i {
			t.Fatalf("call %d: %v %v, %d runs; want nil from a run of its own", i, u, err, runs.get())
		}
	}
	flush(t, c)
	key, _ := find.Key(1)
	if v := dialRedis(t, redisURL(t)).get(t, key); v != nil {
		t.Fatalf("Redis holds %q for a nil result", v)
	}
	if n := stat(t, k, "nulls_not_cached"); n != 2 {
		t.Fatalf("nulls_not_cached=%v, want 2", n)
	}
	// A non-nil result of the same function is cached as usual.
	found := cachekit.Wrap1(k, "find", func(ctx context.Context, id int) (*User, error) {
		runs.inc()
		u := makeUser(id)
		return &u, nil
	})
	for i := 0; i < 2; i++ {
		if u, err := found.Call(bg, 1); err != nil || u == nil || u.ID != 1 || runs.get() != 3 {
			t.Fatalf("a found user: %v %v, %d runs; want it from one run", u, err, runs.get())
		}
	}
}

// gated is a function returning how often it ran; its run number `hold`
// signals started and then waits for release, so that the test sees a
// refresh under way and what callers get meanwhile.
type gated struct {
	runs    counter
	hold    int64
	cost    time.Duration // how long the first run takes (an expensive computation)
	started chan struct{}
	gate    chan struct{}
	once    sync.Once
}

func newGated(t *testing.T, hold int64) *gated {
	g := &gated{hold: hold, started: make(chan struct{}, 1), gate: make(chan struct{})}
	t.Cleanup(g.release) // never leave a run blocked
	return g
}

func (g *gated) release() { g.once.Do(func() { close(g.gate) }) }

func (g *gated) fn(ctx context.Context) (int64, error) {
	n := g.runs.inc()
	if n == 1 && g.cost > 0 {
		time.Sleep(g.cost)
	}
	if n == g.hold {
		g.started <- struct{}{}
		<-g.gate
	}
	return n, nil
}

type callResult struct {
	v   int64
	err error
}

// callAsync runs f.Call on its own goroutine.
func callAsync(f *cachekit.Func0[int64]) chan callResult {
	ch := make(chan callResult, 1)
	go func() {
		v, err := f.Call(bg)
		ch <- callResult{v, err}
	}()
	return ch
}

// answered is the call's result; the test fails if it does not come
// within 5 s (it waits for a run that the test holds).
func answered(t *testing.T, ch chan callResult, what string) callResult {
	t.Helper()
	select {
	case r := <-ch:
		return r
	case <-time.After(5 * time.Second):
		t.Fatalf("%s: no answer while the refresh is held; the caller waits for the recompute", what)
		return callResult{}
	}
}

// pollFor calls f until it returns want (bounded).
func pollFor(t *testing.T, f *cachekit.Func0[int64], want int64) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		v, err := f.Call(bg)
		if err != nil {
			t.Fatal(err)
		}
		if v == want {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("still %d 5 s after the refresh was let go, want %d", v, want)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestStaleWhileRevalidateServesTheStaleValueWhileOneCallerRefreshes(t *testing.T) {
	const ttl = time.Second
	ns := uniqueNS(t)
	c := newClient(t)
	g := newGated(t, 2)
	opts := cachekit.Options{TTL: ttl, StaleWhileRevalidate: time.Minute}
	f := cachekit.Wrap0(newCache(t, c, ns, opts), "version", g.fn)
	if v, err := f.Call(bg); err != nil || v != 1 {
		t.Fatalf("first call: %d %v", v, err)
	}
	flush(t, c)

	time.Sleep(ttl + ttl/2) // past the TTL, well within the stale window
	r := answered(t, callAsync(f), "the first call past the TTL")
	if r.err != nil || r.v != 1 {
		t.Fatalf("past the TTL: %d %v, want the stale 1 at once", r.v, r.err)
	}
	select {
	case <-g.started:
	case <-time.After(5 * time.Second):
		t.Fatalf("no refresh started past the TTL (%d runs)", g.runs.get())
	}
	// While the refresh runs, callers keep getting the stale value and
	// start no other refresh.
	r = answered(t, callAsync(f), "a call during the refresh")
	if r.err != nil || r.v != 1 || g.runs.get() != 2 {
		t.Fatalf("during the refresh: %d %v, %d runs; want the stale 1 and no other run", r.v, r.err, g.runs.get())
	}

	g.release()
	pollFor(t, f, 2)
	if n := stat(t, f.Cache(), "early_refreshes"); n != 1 {
		t.Fatalf("early_refreshes=%v, want 1", n)
	}
	// The refresh stored the new value in Redis: another client reads it.
	flush(t, c)
	var otherRuns counter
	opts.DisableL1 = true
	other := cachekit.Wrap0(newCache(t, newClient(t), ns, opts), "version",
		func(ctx context.Context) (int64, error) { otherRuns.inc(); return -1, nil })
	if v, err := other.Call(bg); err != nil || v != 2 || otherRuns.get() != 0 {
		t.Fatalf("another client reads %d %v (%d runs), want the refreshed 2 from Redis", v, err, otherRuns.get())
	}
}

func TestEarlyRefreshRecomputesBeforeExpiryWithoutACallerWaiting(t *testing.T) {
	const ttl = 2 * time.Second
	ns := uniqueNS(t)
	c := newClient(t)
	g := newGated(t, 2)
	// XFetch refreshes when the time left is below cost * beta * -ln(U):
	// with the first run taking an eighth of the TTL and beta 2 (a scale
	// of a quarter of the TTL), calls near the end of the TTL start the
	// refresh, and one before expiry all but surely does.
	g.cost = ttl / 8
	opts := cachekit.Options{TTL: ttl, EarlyRefreshBeta: 2}
	f := cachekit.Wrap0(newCache(t, c, ns, opts), "report", g.fn)
	if v, err := f.Call(bg); err != nil || v != 1 {
		t.Fatalf("first call: %d %v", v, err)
	}
	flush(t, c)
	key, _ := f.Key()
	raw := dialRedis(t, redisURL(t))

	// Call until a call starts the refresh. Every call must answer at
	// once with the cached 1: a call that waited for the held run would be
	// a recompute after expiry, not a refresh ahead of it.
	deadline := time.Now().Add(ttl + 5*time.Second)
	for refreshing := false; !refreshing; {
		r := answered(t, callAsync(f), "a call before expiry")
		if r.err != nil || r.v != 1 {
			t.Fatalf("before the refresh: %d %v, want the cached 1", r.v, r.err)
		}
		select {
		case <-g.started:
			refreshing = true
		default:
			if time.Now().After(deadline) {
				t.Fatalf("no early refresh within the TTL (%d runs)", g.runs.get())
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	// The run is held: the entry it refreshes has not expired.
	ms, _ := raw.do(t, "PTTL", key).(int64)
	if ms <= 0 {
		t.Fatalf("the refresh started after the entry expired (PTTL %d)", ms)
	}
	t.Logf("the early refresh started with %d ms left of the %v TTL", ms, ttl)
	r := answered(t, callAsync(f), "a call during the refresh")
	if r.err != nil || r.v != 1 || g.runs.get() != 2 {
		t.Fatalf("during the refresh: %d %v, %d runs; want the cached 1 and no other run", r.v, r.err, g.runs.get())
	}

	g.release()
	pollFor(t, f, 2)
	if n := stat(t, f.Cache(), "early_refreshes"); n != 1 {
		t.Fatalf("early_refreshes=%v, want 1", n)
	}
	flush(t, c)
	var otherRuns counter
	opts.DisableL1 = true
	other := cachekit.Wrap0(newCache(t, newClient(t), ns, opts), "report",
		func(ctx context.Context) (int64, error) { otherRuns.inc(); return -1, nil })
	if v, err := other.Call(bg); err != nil || v != 2 || otherRuns.get() != 0 {
		t.Fatalf("another client reads %d %v (%d runs), want the refreshed 2 from Redis", v, err, otherRuns.get())
	}
}
