// Exits right after misses whose Redis writes are still behind the caller,
// with goroutines still inside cachekit calls: Close (argv[3] "close") or
// straight out of main ("return"). Prints one line; exits 0 with nothing on
// stderr, or the run failed.
package main

import (
	"context"
	"fmt"
	"os"
	"strconv"

	cachekit "cachekit.dev/go"
)

func main() {
	ns, run, how := os.Args[1], os.Args[2], os.Args[3]
	n, _ := strconv.Atoi(run)
	client, err := cachekit.New()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	c, err := client.Cache(ns, cachekit.Options{DisableL1: true})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	f := cachekit.Wrap1(c, "f", func(_ context.Context, x int) (int, error) { return x, nil })
	ctx := context.Background()
	go func() { // still calling at exit
		for i := 0; ; i++ {
			_, _ = f.Call(ctx, 1_000_000+i%64)
		}
	}()
	v, err := f.Call(ctx, n)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	fmt.Println("ok", v)
	if how == "close" {
		if err := client.Close(); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
	}
}
