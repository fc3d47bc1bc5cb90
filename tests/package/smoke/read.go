// Go reader of the packaging test: greet("world") in NAMESPACE must be a
// hit of the value Python wrote (the function does not run).
//
//	smoke NAMESPACE
package main

import (
	"context"
	"fmt"
	"os"
	"time"

	cachekit "cachekit.dev/go"
)

func main() {
	if err := run(os.Args[1]); err != nil {
		fmt.Fprintln(os.Stderr, "go:", err)
		os.Exit(1)
	}
}

func run(ns string) error {
	client, err := cachekit.New() // CACHEKIT_REDIS_URL
	if err != nil {
		return err
	}
	defer client.Close()
	c, err := client.Cache(ns, cachekit.Options{TTL: 10 * time.Minute})
	if err != nil {
		return err
	}
	runs := 0
	greet := cachekit.Wrap1(c, "greet", func(ctx context.Context, name string) (string, error) {
		runs++
		return "computed by go for " + name, nil
	})
	value, err := greet.Call(context.Background(), "world")
	if err != nil {
		return err
	}
	if runs != 0 || value != "hello from python" {
		return fmt.Errorf("not a hit of python's value: runs=%d value=%q", runs, value)
	}
	fmt.Printf("go: hit %q\n", value)
	return nil
}
