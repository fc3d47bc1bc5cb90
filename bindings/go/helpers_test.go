package cachekit_test

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	cachekit "cachekit.dev/go"
)

// Tests that need Redis FAIL (not skip) without CACHEKIT_TEST_REDIS_URL.
// Clients get their Redis URL explicitly; the environment that would
// change keys is cleared first.
func TestMain(m *testing.M) {
	for _, v := range []string{"REDIS_URL", "CACHEKIT_REDIS_URL", "CACHEKIT_KEY_PREFIX", "CACHEKIT_TENANT_ID", "CACHEKIT_MASTER_KEY"} {
		os.Unsetenv(v)
	}
	// The core's events go to slog (and are kept for the tests that
	// assert them) instead of stderr.
	if err := cachekit.SetLogger(slog.New(events), slog.LevelWarn); err != nil {
		panic(err)
	}
	os.Exit(m.Run())
}

// eventLog keeps the events delivered through the log callback.
type eventLog struct {
	mu   sync.Mutex
	msgs []string
}

var events = &eventLog{}

func (e *eventLog) Enabled(context.Context, slog.Level) bool { return true }
func (e *eventLog) WithAttrs([]slog.Attr) slog.Handler       { return e }
func (e *eventLog) WithGroup(string) slog.Handler            { return e }
func (e *eventLog) Handle(_ context.Context, r slog.Record) error {
	var b strings.Builder
	b.WriteString(r.Message)
	r.Attrs(func(a slog.Attr) bool {
		fmt.Fprintf(&b, " %s=%v", a.Key, a.Value)
		return true
	})
	e.mu.Lock()
	e.msgs = append(e.msgs, b.String())
	e.mu.Unlock()
	return nil
}

// seen tells whether an event containing all the parts was logged.
func (e *eventLog) seen(parts ...string) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
next:
	for _, m := range e.msgs {
		for _, p := range parts {
			if !strings.Contains(m, p) {
				continue next
			}
		}
		return true
	}
	return false
}

func redisURL(t testing.TB) string {
	t.Helper()
	u := os.Getenv("CACHEKIT_TEST_REDIS_URL")
	if u == "" {
		t.Fatal("CACHEKIT_TEST_REDIS_URL is not set: these tests need a real Redis (run bindings/go/ci.sh, or start one with ci/redis.sh start go)")
	}
	return u
}

// newClient is a client of the test Redis, closed at the end of the test.
func newClient(t testing.TB, opts ...cachekit.Option) *cachekit.Client {
	t.Helper()
	c, err := cachekit.New(append([]cachekit.Option{cachekit.WithRedisURL(redisURL(t))}, opts...)...)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

func newCache(t testing.TB, c *cachekit.Client, ns string, o cachekit.Options) *cachekit.Cache {
	t.Helper()
	k, err := c.Cache(ns, o)
	if err != nil {
		t.Fatalf("Cache(%q): %v", ns, err)
	}
	t.Cleanup(func() { _ = k.Close() })
	return k
}

// uniqueNS is a namespace of the test's own.
func uniqueNS(t testing.TB) string {
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	return "gotest-" + hex.EncodeToString(b)
}

// counter counts the runs of a function.
type counter struct{ n atomic.Int64 }

func (c *counter) inc() int64 { return c.n.Add(1) }
func (c *counter) get() int64 { return c.n.Load() }

// flush waits for the Redis writes made behind callers.
func flush(t testing.TB, c *cachekit.Client) {
	t.Helper()
	if n, err := c.Flush(5 * time.Second); err != nil || n != 0 {
		t.Fatalf("Flush: %d pending, %v", n, err)
	}
}

// ---------------------------------------------------------------- raw Redis

// resp is a minimal RESP client, to look at and plant raw bytes the way
// another SDK or an attacker would.
type resp struct {
	conn net.Conn
	r    *bufio.Reader
}

func dialRedis(t testing.TB, rawURL string) *resp {
	t.Helper()
	u, err := url.Parse(rawURL)
	if err != nil {
		t.Fatal(err)
	}
	conn, err := net.DialTimeout("tcp", u.Host, 2*time.Second)
	if err != nil {
		t.Fatalf("dial %s: %v", u.Host, err)
	}
	t.Cleanup(func() { conn.Close() })
	return &resp{conn: conn, r: bufio.NewReader(conn)}
}

// do sends one command and returns its reply: nil, int64, []byte or []any.
func (c *resp) do(t testing.TB, args ...string) any {
	t.Helper()
	var b strings.Builder
	fmt.Fprintf(&b, "*%d\r\n", len(args))
	for _, a := range args {
		fmt.Fprintf(&b, "$%d\r\n%s\r\n", len(a), a)
	}
	_ = c.conn.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := c.conn.Write([]byte(b.String())); err != nil {
		t.Fatalf("redis write: %v", err)
	}
	v, err := c.read()
	if err != nil {
		t.Fatalf("redis %v: %v", args[0], err)
	}
	return v
}

func (c *resp) read() (any, error) {
	line, err := c.r.ReadString('\n')
	if err != nil {
		return nil, err
	}
	line = strings.TrimRight(line, "\r\n")
	switch line[0] {
	case '+':
		return []byte(line[1:]), nil
	case '-':
		return nil, fmt.Errorf("redis error: %s", line[1:])
	case ':':
		return strconv.ParseInt(line[1:], 10, 64)
	case '$':
		n, _ := strconv.Atoi(line[1:])
		if n < 0 {
			return nil, nil
		}
		buf := make([]byte, n+2)
		if _, err := ioReadFull(c.r, buf); err != nil {
			return nil, err
		}
		return buf[:n], nil
	case '*':
		n, _ := strconv.Atoi(line[1:])
		out := make([]any, 0, max(n, 0))
		for i := 0; i < n; i++ {
			v, err := c.read()
			if err != nil {
				return nil, err
			}
			out = append(out, v)
		}
		return out, nil
	}
	return nil, fmt.Errorf("unexpected reply %q", line)
}

func ioReadFull(r *bufio.Reader, buf []byte) (int, error) {
	n := 0
	for n < len(buf) {
		m, err := r.Read(buf[n:])
		n += m
		if err != nil {
			return n, err
		}
	}
	return n, nil
}

// get returns the raw bytes under key, or nil.
func (c *resp) get(t testing.TB, key string) []byte {
	t.Helper()
	v := c.do(t, "GET", key)
	if v == nil {
		return nil
	}
	return v.([]byte)
}

// waitStored waits (bounded) until key holds some bytes: the write of a
// fill lands behind the caller.
func (c *resp) waitStored(t testing.TB, key string) []byte {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		if b := c.get(t, key); b != nil || time.Now().After(deadline) {
			return b
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// ---------------------------------------------------------------- own server

// redisServer is a redis-server of a test's own, which the test may kill.
type redisServer struct {
	cmd  *exec.Cmd
	url  string
	dead bool
}

func startRedis(t testing.TB) *redisServer {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	dir := t.TempDir()
	cmd := exec.Command("redis-server", "--port", strconv.Itoa(port), "--bind", "127.0.0.1",
		"--save", "", "--appendonly", "no", "--dir", dir, "--logfile", filepath.Join(dir, "redis.log"))
	if err := cmd.Start(); err != nil {
		t.Fatalf("redis-server: %v", err)
	}
	s := &redisServer{cmd: cmd, url: fmt.Sprintf("redis://127.0.0.1:%d", port)}
	t.Cleanup(s.kill)
	deadline := time.Now().Add(5 * time.Second)
	for {
		if redisReady(fmt.Sprintf("127.0.0.1:%d", port)) {
			return s
		}
		if time.Now().After(deadline) {
			t.Fatalf("redis-server on port %d did not start", port)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// redisReady: PING is answered with PONG, or with an auth error (a server
// that wants a password is up too). Anything else (refused, LOADING) is not
// ready yet: never a failure of the test by itself.
func redisReady(addr string) bool {
	conn, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		return false
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(time.Second))
	if _, err := conn.Write([]byte("*1\r\n$4\r\nPING\r\n")); err != nil {
		return false
	}
	v, err := (&resp{conn: conn, r: bufio.NewReader(conn)}).read()
	if err != nil {
		return strings.Contains(err.Error(), "NOAUTH") || strings.Contains(err.Error(), "WRONGPASS")
	}
	b, ok := v.([]byte)
	return ok && string(b) == "PONG"
}

// kill stops the server at once (SIGKILL: no goodbye to clients).
func (s *redisServer) kill() {
	if s.dead {
		return
	}
	s.dead = true
	_ = s.cmd.Process.Kill()
	_ = s.cmd.Wait()
}

var bg = context.Background()
