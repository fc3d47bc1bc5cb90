// The Go process of tests/prometheus/run.sh: the core's metrics served by a
// net/http http.Handler at /metrics, as a Go service serves its own, while a
// workload runs through cached functions against CACHEKIT_REDIS_URL.
//
//	metrics-server PORT NAMESPACE
//
// NAMESPACE (L1 on) and NAMESPACE-l2 (L1 off): misses, fills, sets, L1 and
// L2 hits and deletes every round, 4 rounds a second. Stops by itself after
// CACHEKIT_PROM_LIFETIME seconds (default 240).
package main

import (
	"context"
	"fmt"
	"io"
	"log"
	"net/http"
	"os"
	"strconv"
	"time"

	cachekit "cachekit.dev/go"
)

// metricsHandler serves the client's Prometheus exposition text.
func metricsHandler(client *cachekit.Client) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		text, err := client.Metrics()
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		w.Header().Set("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
		_, _ = io.WriteString(w, text)
	})
}

func square(_ context.Context, n int) (int, error) { return n * n, nil }

func main() {
	if len(os.Args) != 3 {
		log.Fatal("usage: metrics-server PORT NAMESPACE")
	}
	port, ns := os.Args[1], os.Args[2]
	lifetime := 240
	if s := os.Getenv("CACHEKIT_PROM_LIFETIME"); s != "" {
		lifetime, _ = strconv.Atoi(s)
	}

	client, err := cachekit.New() // CACHEKIT_REDIS_URL from the environment
	if err != nil {
		log.Fatal(err)
	}
	withL1, err := client.Cache(ns, cachekit.Options{TTL: time.Minute})
	if err != nil {
		log.Fatal(err)
	}
	noL1, err := client.Cache(ns+"-l2", cachekit.Options{TTL: time.Minute, DisableL1: true})
	if err != nil {
		log.Fatal(err)
	}
	f := cachekit.Wrap1(withL1, "square", square)
	g := cachekit.Wrap1(noL1, "square", square)

	go func() {
		ctx := context.Background()
		must := func(_ any, err error) {
			if err != nil {
				log.Fatal(err)
			}
		}
		for r := 0; ; r++ {
			for i := 0; i < 5; i++ {
				must(f.Call(ctx, r*5+i)) // miss: fill, set
				must(f.Call(ctx, r*5+i)) // L1 hit
			}
			must(f.Invalidate(ctx, r*5)) // delete
			for i := 0; i < 3; i++ {
				must(g.Call(ctx, i)) // L2 hits after the first round
			}
			must(g.Call(ctx, 1000+r))
			must(g.Invalidate(ctx, 1000+r))
			time.Sleep(250 * time.Millisecond)
		}
	}()
	time.AfterFunc(time.Duration(lifetime)*time.Second, func() { os.Exit(0) })

	mux := http.NewServeMux()
	mux.Handle("/metrics", metricsHandler(client))
	fmt.Fprintf(os.Stderr, "go: serving /metrics on 127.0.0.1:%s\n", port)
	log.Fatal(http.ListenAndServe("127.0.0.1:"+port, mux))
}
