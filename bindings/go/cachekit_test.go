package cachekit_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	cachekit "cachekit.dev/go"
)

type User struct {
	ID      int               `json:"id"`
	Name    string            `json:"name"`
	Tags    []string          `json:"tags"`
	Scores  map[string]int    `json:"scores"`
	Created time.Time         `json:"created"`
	Extra   map[string]string `json:"extra,omitempty"`
}

func makeUser(id int) User {
	return User{ID: id, Name: fmt.Sprintf("user-%d", id), Tags: []string{"a", "b"},
		Scores: map[string]int{"x": 1}, Created: time.Date(2024, 1, 2, 3, 4, 5, 123456000, time.UTC)}
}

func TestMissThenHitRunsTheFunctionOnce(t *testing.T) {
	c := newClient(t)
	users := newCache(t, c, uniqueNS(t), cachekit.Options{TTL: time.Minute})
	var runs counter
	get := cachekit.Wrap1(users, "get_user", func(ctx context.Context, id int) (User, error) {
		runs.inc()
		return makeUser(id), nil
	})
	first, err := get.Call(bg, 42)
	if err != nil {
		t.Fatal(err)
	}
	second, err := get.Call(bg, 42)
	if err != nil {
		t.Fatal(err)
	}
	if runs.get() != 1 {
		t.Fatalf("function ran %d times, want 1", runs.get())
	}
	want := makeUser(42)
	for _, u := range []User{first, second} {
		if u.ID != want.ID || u.Name != want.Name || len(u.Tags) != 2 || u.Scores["x"] != 1 || !u.Created.Equal(want.Created) {
			t.Fatalf("got %+v, want %+v", u, want)
		}
	}
	if _, err := get.Call(bg, 43); err != nil || runs.get() != 2 {
		t.Fatalf("other arguments: runs=%d err=%v, want a second run", runs.get(), err)
	}
}

func TestAValueWrittenByOneClientIsAnL2HitForAnother(t *testing.T) {
	ns := uniqueNS(t)
	var runs counter
	fn := func(ctx context.Context, a string, b int) (string, error) {
		runs.inc()
		return fmt.Sprintf("%s-%d", a, b), nil
	}
	writer := newClient(t)
	w := cachekit.Wrap2(newCache(t, writer, ns, cachekit.Options{}), "join", fn)
	if v, err := w.Call(bg, "x", 1); err != nil || v != "x-1" {
		t.Fatalf("write: %q %v", v, err)
	}
	flush(t, writer)

	reader := newClient(t) // its own L1: the value can only come from Redis
	r := cachekit.Wrap2(newCache(t, reader, ns, cachekit.Options{DisableL1: true}), "join", fn)
	v, err := r.Call(bg, "x", 1)
	if err != nil || v != "x-1" {
		t.Fatalf("read: %q %v", v, err)
	}
	if runs.get() != 1 {
		t.Fatalf("function ran %d times, want 1 (the read must be an L2 hit)", runs.get())
	}
}

func TestIntegersOfEveryWidthAndIntegralFloatsGiveTheSameKey(t *testing.T) {
	c := newClient(t)
	f := cachekit.Wrap(newCache(t, c, uniqueNS(t), cachekit.Options{}), "op",
		func(ctx context.Context, args ...any) (int, error) { return 0, nil })
	want, err := f.Key(int64(2))
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range []any{2, int8(2), int16(2), int32(2), uint(2), uint8(2), uint16(2), uint32(2), uint64(2), float32(2), 2.0} {
		got, err := f.Key(v)
		if err != nil {
			t.Fatalf("%T: %v", v, err)
		}
		if got != want {
			t.Errorf("%T(2) gives key %s, want %s", v, got, want)
		}
	}
	for _, v := range []any{2.5, "2", true, []int{2}, nil} {
		got, err := f.Key(v)
		if err != nil {
			t.Fatalf("%T: %v", v, err)
		}
		if got == want {
			t.Errorf("%T %v must not share the key of 2", v, v)
		}
	}
	// Structs and maps key by field names, so a struct and the equal map
	// share an entry (as a Python dict does).
	type P struct {
		B int    `json:"b"`
		A string `json:"a"`
	}
	k1, err1 := f.Key(P{B: 1, A: "x"})
	k2, err2 := f.Key(map[string]any{"a": "x", "b": uint8(1)})
	if err1 != nil || err2 != nil || k1 != k2 {
		t.Fatalf("struct key %s (%v) != map key %s (%v)", k1, err1, k2, err2)
	}
}

func TestCallsWithEqualArgumentsOfDifferentGoTypesShareTheEntry(t *testing.T) {
	c := newClient(t)
	var runs counter
	f := cachekit.Wrap(newCache(t, c, uniqueNS(t), cachekit.Options{}), "op",
		func(ctx context.Context, args ...any) (string, error) {
			runs.inc()
			return fmt.Sprint(args...), nil
		})
	for _, v := range []any{int64(7), uint16(7), 7.0} {
		if _, err := f.Call(bg, v, "x"); err != nil {
			t.Fatal(err)
		}
	}
	if runs.get() != 1 {
		t.Fatalf("ran %d times, want 1", runs.get())
	}
}

func TestEntriesExpireAfterTheirTTL(t *testing.T) {
	c := newClient(t)
	var runs counter
	f := cachekit.Wrap0(newCache(t, c, uniqueNS(t), cachekit.Options{TTL: time.Second}), "now",
		func(ctx context.Context) (int64, error) { return runs.inc(), nil })
	if v, _ := f.Call(bg); v != 1 {
		t.Fatalf("first call gave %d", v)
	}
	if v, _ := f.Call(bg); v != 1 {
		t.Fatalf("second call gave %d, want the cached 1", v)
	}
	time.Sleep(2200 * time.Millisecond) // past the 1 s TTL
	if v, err := f.Call(bg); err != nil || v != 2 {
		t.Fatalf("after the TTL: %d %v, want a recomputed 2", v, err)
	}
}

func TestNamespacesDoNotShareEntries(t *testing.T) {
	c := newClient(t)
	var runs counter
	fn := func(ctx context.Context, id int) (string, error) { runs.inc(); return "v", nil }
	a := cachekit.Wrap1(newCache(t, c, uniqueNS(t), cachekit.Options{}), "get", fn)
	b := cachekit.Wrap1(newCache(t, c, uniqueNS(t), cachekit.Options{}), "get", fn)
	ka, _ := a.Key(1)
	kb, _ := b.Key(1)
	if ka == kb {
		t.Fatalf("two namespaces give the same key %s", ka)
	}
	_, _ = a.Call(bg, 1)
	_, _ = b.Call(bg, 1)
	if runs.get() != 2 {
		t.Fatalf("ran %d times, want 2", runs.get())
	}
	// Two operations of one namespace do not share either.
	other := cachekit.Wrap1(a.Cache(), "other", fn)
	_, _ = other.Call(bg, 1)
	if runs.get() != 3 {
		t.Fatalf("ran %d times, want 3", runs.get())
	}
}

func TestInvalidateAndClearMakeTheNextCallRecompute(t *testing.T) {
	c := newClient(t)
	cache := newCache(t, c, uniqueNS(t), cachekit.Options{})
	var runs counter
	f := cachekit.Wrap1(cache, "get", func(ctx context.Context, id int) (int64, error) { return runs.inc(), nil })
	_, _ = f.Call(bg, 1)
	existed, err := f.Invalidate(bg, 1)
	if err != nil || !existed {
		t.Fatalf("Invalidate: existed=%v err=%v", existed, err)
	}
	if existed, _ := f.Invalidate(bg, 1); existed {
		t.Fatal("a second Invalidate found an entry")
	}
	if v, _ := f.Call(bg, 1); v != 2 {
		t.Fatalf("after Invalidate got %d, want 2", v)
	}
	_, _ = f.Call(bg, 2)
	flush(t, c)
	if _, err := f.Clear(bg); err != nil {
		t.Fatal(err)
	}
	if v, _ := f.Call(bg, 1); v != 4 {
		t.Fatalf("after the operation's Clear got %d, want 4", v)
	}
	flush(t, c)
	if n, err := cache.Clear(bg); err != nil || n < 1 {
		t.Fatalf("namespace Clear: %d %v", n, err)
	}
	if v, _ := f.Call(bg, 1); v != 5 {
		t.Fatalf("after the namespace Clear got %d, want 5", v)
	}
}

var errNotFound = errors.New("not found")

func TestTheFunctionsErrorIsReturnedAndNeverCached(t *testing.T) {
	c := newClient(t)
	var runs counter
	f := cachekit.Wrap1(newCache(t, c, uniqueNS(t), cachekit.Options{}), "get",
		func(ctx context.Context, id int) (string, error) {
			if runs.inc() == 1 {
				return "", fmt.Errorf("loading %d: %w", id, errNotFound)
			}
			return "ok", nil
		})
	if _, err := f.Call(bg, 1); !errors.Is(err, errNotFound) {
		t.Fatalf("got %v, want the function's error", err)
	}
	if v, err := f.Call(bg, 1); err != nil || v != "ok" {
		t.Fatalf("second call: %q %v, want a fresh run", v, err)
	}
	if v, err := f.Call(bg, 1); err != nil || v != "ok" || runs.get() != 2 {
		t.Fatalf("third call: %q %v runs=%d, want the cached ok", v, err, runs.get())
	}
}

func TestAPanicInTheFunctionCachesNothing(t *testing.T) {
	c := newClient(t)
	var runs counter
	f := cachekit.Wrap0(newCache(t, c, uniqueNS(t), cachekit.Options{}), "boom",
		func(ctx context.Context) (int64, error) {
			if runs.inc() == 1 {
				panic("boom")
			}
			return 7, nil
		})
	func() {
		defer func() {
			if recover() == nil {
				t.Fatal("the panic did not reach the caller")
			}
		}()
		_, _ = f.Call(bg)
	}()
	if v, err := f.Call(bg); err != nil || v != 7 || runs.get() != 2 {
		t.Fatalf("after the panic: %d %v runs=%d", v, err, runs.get())
	}
}

func TestManyGoroutinesOnOneColdKeyRunTheFunctionOnce(t *testing.T) {
	c := newClient(t)
	var runs counter
	f := cachekit.Wrap1(newCache(t, c, uniqueNS(t), cachekit.Options{}), "slow",
		func(ctx context.Context, id int) (string, error) {
			runs.inc()
			time.Sleep(300 * time.Millisecond)
			return fmt.Sprintf("value-%d", id), nil
		})
	const n = 32
	var wg sync.WaitGroup
	start := make(chan struct{})
	results := make([]string, n)
	errs := make([]error, n)
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			<-start
			results[i], errs[i] = f.Call(bg, 9)
		}(i)
	}
	close(start)
	wg.Wait()
	if runs.get() != 1 {
		t.Fatalf("%d goroutines on one cold key ran the function %d times, want 1", n, runs.get())
	}
	for i := range results {
		if errs[i] != nil || results[i] != "value-9" {
			t.Fatalf("goroutine %d: %q %v", i, results[i], errs[i])
		}
	}
}

func TestTwoClientsOnOneColdKeyRunTheFunctionOnce(t *testing.T) {
	ns := uniqueNS(t)
	var runs counter
	fn := func(ctx context.Context, id int) (string, error) {
		runs.inc()
		time.Sleep(300 * time.Millisecond)
		return "v", nil
	}
	var fs []*cachekit.Func1[int, string]
	for i := 0; i < 2; i++ { // two clients: the Redis lock, not the in-process flight, decides
		fs = append(fs, cachekit.Wrap1(newCache(t, newClient(t), ns, cachekit.Options{}), "slow", fn))
	}
	var wg sync.WaitGroup
	for i := 0; i < 16; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			if v, err := fs[i%2].Call(bg, 1); err != nil || v != "v" {
				t.Errorf("call: %q %v", v, err)
			}
		}(i)
	}
	wg.Wait()
	if runs.get() != 1 {
		t.Fatalf("ran %d times across two clients, want 1", runs.get())
	}
}

func TestRedisKilledMidRunNeverReachesTheCaller(t *testing.T) {
	srv := startRedis(t)
	c, err := cachekit.New(cachekit.WithRedisURL(srv.url), cachekit.WithSocketTimeout(200*time.Millisecond),
		cachekit.WithConnectTimeout(200*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	var runs counter
	fn := func(ctx context.Context, id int) (int, error) { runs.inc(); return id * 10, nil }
	withL1 := cachekit.Wrap1(newCache(t, c, "failopen", cachekit.Options{}), "get", fn)
	noL1 := cachekit.Wrap1(newCache(t, c, "failopen2", cachekit.Options{DisableL1: true}), "get", fn)
	for i := 0; i < 20; i++ {
		if i == 10 {
			flush(t, c)
			srv.kill()
		}
		for _, f := range []*cachekit.Func1[int, int]{withL1, noL1} {
			v, err := f.Call(bg, i%5+100*(i/10))
			if err != nil {
				t.Fatalf("call %d after the kill: error reached the caller: %v", i, err)
			}
			if v != (i%5+100*(i/10))*10 {
				t.Fatalf("call %d: wrong value %d", i, v)
			}
		}
	}
	// (L1 may have been dropped with the invalidation subscription: the
	// core clears it when it can no longer hear other processes' deletes.)
	before := runs.get()
	if v, err := noL1.Call(bg, 1); err != nil || v != 10 || runs.get() != before+1 {
		t.Fatalf("without L1 and Redis: %d %v, want a fresh run", v, err)
	}
	h, err := noL1.Cache().Health()
	if err != nil {
		t.Fatal(err)
	}
	stats, _ := h["stats"].(map[string]any)
	if n, _ := stats["l2_errors"].(float64); n < 1 {
		t.Fatalf("health counts no L2 errors: %v", h)
	}
	if !events.seen("cachekit: l2_error", "namespace=failopen2") {
		t.Fatal("no l2_error event reached the slog logger")
	}
}

func TestFailClosedReportsABackendError(t *testing.T) {
	srv := startRedis(t)
	c, err := cachekit.New(cachekit.WithRedisURL(srv.url), cachekit.WithSocketTimeout(200*time.Millisecond),
		cachekit.WithConnectTimeout(200*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	f := cachekit.Wrap1(newCache(t, c, "closed", cachekit.Options{FailClosed: true, DisableL1: true}), "get",
		func(ctx context.Context, id int) (int, error) { return id, nil })
	if _, err := f.Call(bg, 1); err != nil {
		t.Fatalf("with Redis up: %v", err)
	}
	srv.kill()
	if _, err := f.Call(bg, 2); !errors.Is(err, cachekit.ErrBackend) {
		t.Fatalf("fail-closed without Redis: got %v, want ErrBackend", err)
	}
}

func TestConfigurationErrorsMatchTheirSentinels(t *testing.T) {
	if _, err := cachekit.New(cachekit.WithSetting("default_ttl", "soon")); !errors.Is(err, cachekit.ErrConfig) {
		t.Fatalf("bad default_ttl: %v", err)
	}
	if _, err := cachekit.New(cachekit.WithSetting("no_such_setting", 1)); !errors.Is(err, cachekit.ErrConfig) {
		t.Fatalf("unknown setting: %v", err)
	}
	t.Setenv("CACHEKIT_DEFAULT_TTL", "not-a-number")
	_, err := cachekit.New()
	if !errors.Is(err, cachekit.ErrConfig) || !strings.Contains(err.Error(), "CACHEKIT_DEFAULT_TTL") {
		t.Fatalf("bad environment: %v, want ErrConfig naming the variable", err)
	}
	t.Setenv("CACHEKIT_DEFAULT_TTL", "60")

	c := newClient(t)
	if _, err := c.Cache("x", cachekit.Options{Extra: map[string]any{"no_such_option": true}}); !errors.Is(err, cachekit.ErrConfig) {
		t.Fatalf("unknown option: %v", err)
	}
	_, err = c.Cache("Users", cachekit.Options{Format: cachekit.Interop})
	if !errors.Is(err, cachekit.ErrInvalidKey) || !errors.Is(err, cachekit.ErrConfig) {
		t.Fatalf("upper-case interop namespace: %v, want ErrInvalidKey (and ErrConfig)", err)
	}
	var ce *cachekit.Error
	if !errors.As(err, &ce) || ce.Message == "" {
		t.Fatalf("the error carries no core message: %#v", err)
	}
	_, err = c.Cache("x", cachekit.Options{Encryption: true, MasterKey: "zz"})
	if !errors.Is(err, cachekit.ErrEncryption) {
		t.Fatalf("malformed master key: %v, want ErrEncryption", err)
	}
}

// wrapPanic runs wrap and returns what it panicked with (nil: no panic).
func wrapPanic(wrap func()) (p any) {
	defer func() { p = recover() }()
	wrap()
	return nil
}

func TestAnInvalidOperationIsRefusedWhenTheFunctionIsWrapped(t *testing.T) {
	c := newClient(t)
	interop := newCache(t, c, "users", cachekit.Options{Format: cachekit.Interop})
	p := wrapPanic(func() {
		cachekit.Wrap0(interop, "getUser", func(ctx context.Context) (int, error) { return 1, nil })
	})
	err, ok := p.(error)
	if !ok || !errors.Is(err, cachekit.ErrInvalidKey) {
		t.Fatalf("upper-case interop operation: Wrap0 panicked with %v, want an ErrInvalidKey error", p)
	}
	var ce *cachekit.Error
	if !errors.As(err, &ce) || !strings.Contains(ce.Message, "getUser") {
		t.Fatalf("the panic carries no core message naming the operation: %#v", err)
	}
	envelope := newCache(t, c, uniqueNS(t), cachekit.Options{})
	if p := wrapPanic(func() { cachekit.Wrap(envelope, "get user", func(context.Context, ...any) (int, error) { return 1, nil }) }); p == nil {
		t.Fatal("an operation with a space was accepted in the envelope format")
	}
	if p := wrapPanic(func() { cachekit.Wrap1(interop, "get_user", fetchThing) }); p != nil {
		t.Fatalf("a valid interop operation was refused: %v", p)
	}
}

func TestInteropRefusesAKeyPrefixOrTenantWhenTheNamespaceIsOpened(t *testing.T) {
	for _, tc := range []struct {
		name, env string
		opt       cachekit.Option
	}{
		{"key prefix", "CACHEKIT_KEY_PREFIX", cachekit.WithKeyPrefix("pfx")},
		{"tenant", "CACHEKIT_TENANT_ID", cachekit.WithTenantID("acme")},
	} {
		t.Run(tc.name+" setting", func(t *testing.T) {
			c := newClient(t, tc.opt)
			_, err := c.Cache("users", cachekit.Options{Format: cachekit.Interop})
			if !errors.Is(err, cachekit.ErrConfig) || !strings.Contains(err.Error(), tc.env) {
				t.Fatalf("interop namespace under a %s: %v, want ErrConfig naming %s", tc.name, err, tc.env)
			}
			if _, err := c.Cache("users", cachekit.Options{}); err != nil {
				t.Fatalf("the envelope format under a %s: %v", tc.name, err)
			}
		})
		t.Run(tc.name+" variable", func(t *testing.T) {
			val := "pfx"
			if tc.env == "CACHEKIT_TENANT_ID" {
				val = "acme"
			}
			t.Setenv(tc.env, val)
			c := newClient(t)
			_, err := c.Cache("users", cachekit.Options{Format: cachekit.Interop})
			if !errors.Is(err, cachekit.ErrConfig) || !strings.Contains(err.Error(), tc.env) {
				t.Fatalf("interop namespace with %s set: %v, want ErrConfig naming it", tc.env, err)
			}
		})
	}
}

func TestArgumentsThatCannotBeEncodedAreAnError(t *testing.T) {
	c := newClient(t)
	var runs counter
	f := cachekit.Wrap(newCache(t, c, uniqueNS(t), cachekit.Options{}), "op",
		func(ctx context.Context, args ...any) (int, error) { runs.inc(); return 1, nil })
	for _, bad := range []any{make(chan int), func() {}} {
		if _, err := f.Call(bg, bad); !errors.Is(err, cachekit.ErrEncode) {
			t.Fatalf("%T argument: %v, want ErrEncode", bad, err)
		}
	}
	if _, err := f.Call(bg, map[int]string{1: "a"}); !errors.Is(err, cachekit.ErrEncode) {
		t.Fatalf("map with int keys: %v, want ErrEncode (map keys must be strings)", err)
	}
	if runs.get() != 0 {
		t.Fatal("the function ran for arguments that have no key")
	}
}

type withChan struct {
	C chan int
}

func TestAResultThatCannotBeEncodedIsReturnedButNotCached(t *testing.T) {
	c := newClient(t)
	var runs counter
	ch := make(chan int)
	f := cachekit.Wrap0(newCache(t, c, uniqueNS(t), cachekit.Options{}), "op",
		func(ctx context.Context) (withChan, error) { runs.inc(); return withChan{C: ch}, nil })
	for i := 0; i < 2; i++ {
		v, err := f.Call(bg)
		if err != nil || v.C != ch {
			t.Fatalf("call %d: %v %v", i, v, err)
		}
	}
	if runs.get() != 2 {
		t.Fatalf("ran %d times, want 2 (nothing cached)", runs.get())
	}
}

func TestAnUndecodableCachedValueIsDiscardedAndRecomputed(t *testing.T) {
	c := newClient(t)
	cache := newCache(t, c, uniqueNS(t), cachekit.Options{})
	asString := cachekit.Wrap1(cache, "op", func(ctx context.Context, id int) (string, error) { return "text", nil })
	var runs counter
	asInt := cachekit.Wrap1(cache, "op", func(ctx context.Context, id int) (int, error) { runs.inc(); return 5, nil })
	if _, err := asString.Call(bg, 1); err != nil {
		t.Fatal(err)
	}
	v, err := asInt.Call(bg, 1)
	if err != nil || v != 5 || runs.get() != 1 {
		t.Fatalf("reading a string as int: %d %v runs=%d, want a recomputed 5 and no error", v, err, runs.get())
	}
	// The core drops the entry in the background; a later call then
	// fills and stores 5, and the call after that is a hit.
	deadline := time.Now().Add(5 * time.Second)
	for {
		before := runs.get()
		if v, err := asInt.Call(bg, 1); err != nil || v != 5 {
			t.Fatalf("%d %v", v, err)
		}
		if runs.get() == before {
			break // a hit of the refilled 5
		}
		if time.Now().After(deadline) {
			t.Fatalf("the undecodable entry was never replaced (runs=%d)", runs.get())
		}
		time.Sleep(10 * time.Millisecond)
	}
	if runs.get() < 2 {
		t.Fatalf("runs=%d: the refill never ran", runs.get())
	}
	h, err := cache.Health()
	if err != nil {
		t.Fatal(err)
	}
	stats, _ := h["stats"].(map[string]any)
	if n, _ := stats["corrupt_entries"].(float64); n < 1 {
		t.Fatalf("health does not count the discarded entry: corrupt_entries=%v in %v", stats["corrupt_entries"], stats)
	}
}

func TestACancelledContextStopsTheCallAndTheWait(t *testing.T) {
	c := newClient(t)
	var runs counter
	release := make(chan struct{})
	f := cachekit.Wrap1(newCache(t, c, uniqueNS(t), cachekit.Options{}), "slow",
		func(ctx context.Context, id int) (string, error) {
			runs.inc()
			<-release
			return "done", nil
		})
	cancelled, cancel := context.WithCancel(bg)
	cancel()
	if _, err := f.Call(cancelled, 1); !errors.Is(err, context.Canceled) || runs.get() != 0 {
		t.Fatalf("cancelled before the call: %v runs=%d", err, runs.get())
	}

	holder := make(chan error, 1)
	go func() { _, err := f.Call(bg, 2); holder <- err }()
	for runs.get() == 0 {
		time.Sleep(5 * time.Millisecond)
	}
	waitCtx, stop := context.WithTimeout(bg, 100*time.Millisecond)
	defer stop()
	if _, err := f.Call(waitCtx, 2); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("waiting for another caller's fill: %v, want the context's error", err)
	}
	close(release)
	if err := <-holder; err != nil {
		t.Fatal(err)
	}
	if v, err := f.Call(bg, 2); err != nil || v != "done" || runs.get() != 1 {
		t.Fatalf("after the fill: %q %v runs=%d", v, err, runs.get())
	}
}

func TestTimesRoundTripAsDatetimeMarkers(t *testing.T) {
	c := newClient(t)
	url := redisURL(t)
	cache := newCache(t, c, uniqueNS(t), cachekit.Options{Format: cachekit.Interop, DisableL1: true})
	when := time.Date(2024, 1, 1, 12, 30, 45, 123456789, time.FixedZone("", 5*3600+1800))
	f := cachekit.Wrap1(cache, "when", func(ctx context.Context, id int) (time.Time, error) { return when, nil })
	if _, err := f.Call(bg, 1); err != nil {
		t.Fatal(err)
	}
	key, _ := f.Key(1)
	raw := dialRedis(t, url).waitStored(t, key)
	if !bytes.Contains(raw, []byte("__datetime__")) || !bytes.Contains(raw, []byte("2024-01-01T07:00:45.123456+00:00")) {
		t.Fatalf("stored %q, want a __datetime__ marker with Python's isoformat of the instant in UTC", raw)
	}
	got, err := f.Call(bg, 1)
	if err != nil || !got.Equal(when.Truncate(time.Microsecond)) {
		t.Fatalf("read back %v %v, want %v", got, err, when)
	}
	// Markers written by Python: a date and a naive datetime.
	r := dialRedis(t, url)
	dates := cachekit.Wrap1(cache, "dates", func(ctx context.Context, id int) (map[string]any, error) {
		return nil, errors.New("must be a hit")
	})
	k, _ := dates.Key(1)
	r.do(t, "SET", k, string(hexBytes(t,
		"82"+"a1"+"64"+"82a85f5f646174655f5fc3a576616c7565aa"+hexOf("2024-02-29")+
			"a1"+"6e"+"82ac5f5f6461746574696d655f5fc3a576616c7565b3"+hexOf("2024-03-01T10:00:00"))))
	m, err := dates.Call(bg, 1)
	if err != nil {
		t.Fatal(err)
	}
	if d, ok := m["d"].(time.Time); !ok || !d.Equal(time.Date(2024, 2, 29, 0, 0, 0, 0, time.UTC)) {
		t.Fatalf("__date__ decoded to %#v", m["d"])
	}
	if d, ok := m["n"].(time.Time); !ok || !d.Equal(time.Date(2024, 3, 1, 10, 0, 0, 0, time.UTC)) {
		t.Fatalf("naive __datetime__ decoded to %#v", m["n"])
	}
}

func TestEncryptedValuesRoundTripAndAWrongKeyRecomputes(t *testing.T) {
	const key1 = "a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1"
	const key2 = "b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2"
	ns := uniqueNS(t)
	c := newClient(t)
	var runs counter
	fn := func(ctx context.Context, id int) (string, error) { runs.inc(); return "secret-payload", nil }
	enc := cachekit.Wrap1(newCache(t, c, ns, cachekit.Options{Encryption: true, MasterKey: key1}), "get", fn)
	if v, err := enc.Call(bg, 1); err != nil || v != "secret-payload" {
		t.Fatalf("%q %v", v, err)
	}
	flush(t, c)
	k, _ := enc.Key(1)
	raw := dialRedis(t, redisURL(t)).waitStored(t, k)
	if raw == nil || bytes.Contains(raw, []byte("secret-payload")) {
		t.Fatalf("stored %q: want ciphertext", raw)
	}

	sameKey := cachekit.Wrap1(newCache(t, newClient(t), ns, cachekit.Options{Encryption: true, MasterKey: key1, DisableL1: true}), "get", fn)
	if v, err := sameKey.Call(bg, 1); err != nil || v != "secret-payload" || runs.get() != 1 {
		t.Fatalf("same key: %q %v runs=%d, want a hit", v, err, runs.get())
	}
	wrongKey := cachekit.Wrap1(newCache(t, newClient(t), ns, cachekit.Options{Encryption: true, MasterKey: key2, DisableL1: true}), "get", fn)
	if v, err := wrongKey.Call(bg, 1); err != nil || v != "secret-payload" || runs.get() != 2 {
		t.Fatalf("wrong key: %q %v runs=%d, want a recompute without error", v, err, runs.get())
	}
}

func TestHealthAndMetricsReportTheNamespace(t *testing.T) {
	c := newClient(t)
	ns := uniqueNS(t)
	cache := newCache(t, c, ns, cachekit.Options{})
	f := cachekit.Wrap1(cache, "op", func(ctx context.Context, id int) (int, error) { return id, nil })
	_, _ = f.Call(bg, 1)
	_, _ = f.Call(bg, 1)
	h, err := cache.Health()
	if err != nil {
		t.Fatal(err)
	}
	if h["namespace"] != ns {
		t.Fatalf("health namespace %v, want %s: %v", h["namespace"], ns, h)
	}
	ch, err := cache.CheckHealth(bg)
	if err != nil {
		t.Fatal(err)
	}
	system, _ := ch["system"].(map[string]any)
	if system["status"] != "healthy" || system["ping_latency_seconds"] == nil {
		t.Fatalf("CheckHealth has no healthy PING: %v", ch)
	}
	m, err := c.Metrics()
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(m, "redis_cache_operations_total") || !strings.Contains(m, ns) {
		t.Fatalf("metrics lack the operations counter of %s:\n%.2000s", ns, m)
	}
}

func TestClosedHandlesReturnErrClosed(t *testing.T) {
	c, err := cachekit.New(cachekit.WithRedisURL(""))
	if err != nil {
		t.Fatal(err)
	}
	cache, err := c.Cache(uniqueNS(t), cachekit.Options{})
	if err != nil {
		t.Fatal(err)
	}
	f := cachekit.Wrap0(cache, "op", func(ctx context.Context) (int, error) { return 1, nil })
	if v, err := f.Call(bg); err != nil || v != 1 {
		t.Fatal(v, err)
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Metrics(); !errors.Is(err, cachekit.ErrClosed) {
		t.Fatalf("Metrics after Close: %v", err)
	}
	// Closing the client closes its caches: no call of them runs or writes.
	if v, err := f.Call(bg); !errors.Is(err, cachekit.ErrClosed) {
		t.Fatalf("Call after Client.Close: %d %v", v, err)
	}
	if err := c.Close(); err != nil {
		t.Fatalf("a second Close: %v", err)
	}
	_ = cache.Close()
	if _, err := f.Call(bg); !errors.Is(err, cachekit.ErrClosed) {
		t.Fatalf("Call after Cache.Close: %v", err)
	}
}

func TestL1OnlyWithoutARedisURL(t *testing.T) {
	c, err := cachekit.New(cachekit.WithRedisURL(""))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	var runs counter
	f := cachekit.Wrap1(newCache(t, c, uniqueNS(t), cachekit.Options{}), "op",
		func(ctx context.Context, s string) (string, error) { runs.inc(); return s + "!", nil })
	for i := 0; i < 3; i++ {
		if v, err := f.Call(bg, "hi"); err != nil || v != "hi!" {
			t.Fatal(v, err)
		}
	}
	if runs.get() != 1 {
		t.Fatalf("ran %d times, want 1", runs.get())
	}
}

func TestDefaultOperationNamesComeFromTheFunction(t *testing.T) {
	c, _ := cachekit.New(cachekit.WithRedisURL(""))
	defer c.Close()
	f := cachekit.Wrap1(newCache(t, c, "ns", cachekit.Options{}), "", fetchThing)
	if !strings.HasSuffix(f.Operation(), "_test.fetchThing") {
		t.Fatalf("operation %q", f.Operation())
	}
	g := cachekit.Wrap1(newCache(t, c, "ns2", cachekit.Options{Format: cachekit.Interop}), "", fetchThing)
	if !strings.HasSuffix(g.Operation(), "_test.fetchthing") {
		t.Fatalf("interop operation %q", g.Operation())
	}
	if _, err := g.Call(bg, 1); err != nil {
		t.Fatal(err)
	}
}

func fetchThing(ctx context.Context, id int) (int, error) { return id, nil }

// The Go runtime signals threads that are inside C (SIGURG when a
// collection stops the world). The core's blocking sockets would see EINTR
// and count an L2 error; the binding blocks such signals around calls that
// may do I/O, so none is counted under heavy collection.
func TestGoRuntimeSignalsDoNotFailRedisCalls(t *testing.T) {
	c := newClient(t)
	cache := newCache(t, c, uniqueNS(t), cachekit.Options{DisableL1: true})
	f := cachekit.Wrap1(cache, "get", func(ctx context.Context, id int) (int, error) { return id, nil })
	stop := make(chan struct{})
	var gc sync.WaitGroup
	gc.Add(1)
	go func() { // collections, each a stop-the-world that signals running Ms
		defer gc.Done()
		for {
			select {
			case <-stop:
				return
			default:
				runtime.GC()
			}
		}
	}()
	var wg sync.WaitGroup
	for g := 0; g < 4; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			for i := 0; i < 1500; i++ {
				id := i % 20
				if i%2 == 1 {
					id = 1000*(g+1) + i // a miss: fill lock, write behind
				}
				if v, err := f.Call(bg, id); err != nil || v != id {
					t.Errorf("call: %d %v", v, err)
					return
				}
			}
		}(g)
	}
	wg.Wait()
	close(stop)
	gc.Wait()
	h, err := cache.Health()
	if err != nil {
		t.Fatal(err)
	}
	stats, _ := h["stats"].(map[string]any)
	if n, _ := stats["l2_errors"].(float64); n != 0 {
		t.Fatalf("%v L2 errors under garbage collection: %v", n, stats)
	}
	if n, _ := stats["l2_hits"].(float64); n < 2000 {
		t.Fatalf("only %v L2 hits: the test did not exercise Redis: %v", n, stats)
	}
}
