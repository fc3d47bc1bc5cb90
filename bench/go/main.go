// Side-by-side benchmark of the Go binding against the cache a Go user
// would pick: go-redis/cache v9 (msgpack values, TinyLFU local cache,
// go-redis v9 client). Scenarios, each for a small struct payload:
//
//	l1_hit      the same key again and again (ours: L1; peer: TinyLFU)
//	l2_hit      the same key with no local cache (one Redis GET each)
//	miss_store  a new key each call: look up, compute, store (ours
//	            includes the fill lock and a final Flush, so every write
//	            has landed in Redis before the clock stops)
//
// Ours and the peer run alternately in one process, several rounds;
// the medians and their ratios are printed as a Markdown table.
//
//	go run . -redis redis://127.0.0.1:6379 [-rounds 7]
package main

import (
	"context"
	"flag"
	"fmt"
	"log"
	"os"
	"sort"
	"strings"
	"time"

	cachekit "cachekit.dev/go"
	"github.com/go-redis/cache/v9"
	"github.com/redis/go-redis/v9"
)

type User struct {
	ID     int64    `json:"id"`
	Name   string   `json:"name"`
	Email  string   `json:"email"`
	Tags   []string `json:"tags"`
	Score  float64  `json:"score"`
	Active bool     `json:"active"`
}

func load(_ context.Context, id int64) (User, error) {
	return User{ID: id, Name: "Ada Lovelace", Email: "ada@example.com", Tags: []string{"admin", "beta"}, Score: 97.5, Active: true}, nil
}

type scenario struct {
	name string
	ops  int
	ours func(n int, base int64)
	peer func(n int, base int64)
}

func main() {
	url := flag.String("redis", os.Getenv("CACHEKIT_REDIS_URL"), "Redis URL")
	rounds := flag.Int("rounds", 7, "rounds (each runs ours and the peer once per scenario)")
	flag.Parse()
	if *url == "" {
		log.Fatal("give -redis or CACHEKIT_REDIS_URL")
	}
	ctx := context.Background()

	client, err := cachekit.New(cachekit.WithRedisURL(*url))
	if err != nil {
		log.Fatal(err)
	}
	defer client.Close()
	withL1, err := client.Cache("bench-go-l1", cachekit.Options{TTL: time.Hour})
	must(err)
	noL1, err := client.Cache("bench-go-l2", cachekit.Options{TTL: time.Hour, DisableL1: true})
	must(err)
	miss, err := client.Cache("bench-go-miss", cachekit.Options{TTL: time.Hour})
	must(err)
	oursL1 := cachekit.Wrap1(withL1, "get_user", load)
	oursL2 := cachekit.Wrap1(noL1, "get_user", load)
	oursMiss := cachekit.Wrap1(miss, "get_user", load)

	opt, err := redis.ParseURL(*url)
	must(err)
	rdb := redis.NewClient(opt)
	defer rdb.Close()
	peerLocal := cache.New(&cache.Options{Redis: rdb, LocalCache: cache.NewTinyLFU(10000, time.Hour)})
	peerRemote := cache.New(&cache.Options{Redis: rdb})
	peerGet := func(c *cache.Cache, key string, id int64) User {
		var u User
		err := c.Once(&cache.Item{Ctx: ctx, Key: key, Value: &u, TTL: time.Hour,
			Do: func(*cache.Item) (any, error) { return load(ctx, id) }})
		must(err)
		return u
	}
	oursGet := func(f *cachekit.Func1[int64, User], id int64) User {
		u, err := f.Call(ctx, id)
		must(err)
		return u
	}

	run := fmt.Sprintf("%d", time.Now().UnixNano())
	scenarios := []scenario{
		{"l1_hit", 200000,
			func(n int, _ int64) {
				for i := 0; i < n; i++ {
					oursGet(oursL1, 1)
				}
			},
			func(n int, _ int64) {
				for i := 0; i < n; i++ {
					peerGet(peerLocal, "bench:l1:"+run, 1)
				}
			}},
		{"l2_hit", 4000,
			func(n int, _ int64) {
				for i := 0; i < n; i++ {
					oursGet(oursL2, 1)
				}
			},
			func(n int, _ int64) {
				for i := 0; i < n; i++ {
					peerGet(peerRemote, "bench:l2:"+run, 1)
				}
			}},
		{"miss_store", 2000,
			func(n int, base int64) {
				for i := 0; i < n; i++ {
					oursGet(oursMiss, base+int64(i))
				}
				if _, err := client.Flush(10 * time.Second); err != nil {
					log.Fatal(err)
				}
			},
			func(n int, base int64) {
				for i := 0; i < n; i++ {
					id := base + int64(i)
					peerGet(peerLocal, fmt.Sprintf("bench:miss:%s:%d", run, id), id)
				}
			}},
	}

	// Warm both (connections, the entries of the hit scenarios).
	for _, s := range scenarios {
		s.ours(s.ops/20+1, 1<<40)
		s.peer(s.ops/20+1, 1<<40)
	}

	results := map[string][2][]float64{}
	base := int64(1 << 20)
	for r := 0; r < *rounds; r++ {
		for _, s := range scenarios {
			base += int64(s.ops)
			timed := func(f func(int, int64)) float64 {
				start := time.Now()
				f(s.ops, base)
				return float64(time.Since(start).Nanoseconds()) / float64(s.ops)
			}
			var o, p float64
			if r%2 == 0 { // alternate who goes first
				o, p = timed(s.ours), timed(s.peer)
			} else {
				p, o = timed(s.peer), timed(s.ours)
			}
			cur := results[s.name]
			cur[0] = append(cur[0], o)
			cur[1] = append(cur[1], p)
			results[s.name] = cur
		}
	}

	fmt.Printf("| scenario | cachekit (median) | go-redis/cache v9 (median) | peer / cachekit |\n")
	fmt.Printf("|---|---:|---:|---:|\n")
	for _, s := range scenarios {
		o, p := median(results[s.name][0]), median(results[s.name][1])
		fmt.Printf("| %s | %s | %s | %.2fx |\n", s.name, dur(o), dur(p), p/o)
	}
	fmt.Printf("\nrounds: %d; ops per round: %s; payload: %d-field struct (msgpack ~%d bytes)\n",
		*rounds, opsList(scenarios), 6, payloadSize())
}

func payloadSize() int {
	u, _ := load(context.Background(), 1)
	b, _ := msgpackLen(u)
	return b
}

func opsList(ss []scenario) string {
	var parts []string
	for _, s := range ss {
		parts = append(parts, fmt.Sprintf("%s %d", s.name, s.ops))
	}
	return strings.Join(parts, ", ")
}

func median(xs []float64) float64 {
	s := append([]float64(nil), xs...)
	sort.Float64s(s)
	return s[len(s)/2]
}

func dur(ns float64) string {
	if ns >= 1000 {
		return fmt.Sprintf("%.1f µs", ns/1000)
	}
	return fmt.Sprintf("%.0f ns", ns)
}

func must(err error) {
	if err != nil {
		log.Fatal(err)
	}
}
