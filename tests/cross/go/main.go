// Go side of the cross-language test (run by tests/cross/run.sh).
//
//	cross write|read|key FORMAT NAMESPACE [--expect-miss]
//
// key: prints the Redis key of Python's arguments in that format.
// write: calls the cached function (a miss: it runs) with Go's arguments.
// read: calls it with Python's arguments and checks that it is a hit (the
// function does not run) with the value Python wrote. Exits 1 on failure.
package main

import (
	"context"
	"fmt"
	"os"
	"reflect"
	"time"

	cachekit "cachekit.dev/go"
)

type Profile struct {
	ID     int64            `json:"id"`
	Name   string           `json:"name"`
	Tags   []string         `json:"tags"`
	Score  float64          `json:"score"`
	When   time.Time        `json:"when"`
	Nested map[string][]int `json:"nested"`
}

var when = time.Date(2024, 5, 6, 7, 8, 9, 123456000, time.UTC)

type args struct {
	id     int64
	name   string
	factor any
	extra  map[string]any
}

func argsFor(who string) args {
	if who == "python" {
		// Python passes 2.0; Go passes the integer 2: the same key.
		return args{42, "alpha", 2, map[string]any{"k": []int{1, 2}}}
	}
	return args{7, "beta", 3.0, map[string]any{"k": []int{3}}}
}

func valueFor(who string, a args) Profile {
	return Profile{ID: a.id, Name: who + ":" + a.name, Tags: []string{"x", "y"}, Score: 1.5, When: when,
		Nested: map[string][]int{"k": a.extra["k"].([]int)}}
}

func main() {
	expectMiss := len(os.Args) > 4 && os.Args[4] == "--expect-miss"
	if err := run(os.Args[1], os.Args[2], os.Args[3], expectMiss); err != nil {
		fmt.Fprintln(os.Stderr, "go:", err)
		os.Exit(1)
	}
}

func run(mode, format, ns string, expectMiss bool) error {
	client, err := cachekit.New() // CACHEKIT_REDIS_URL from run.sh
	if err != nil {
		return err
	}
	defer client.Close() // flushes the write behind the miss
	opts := cachekit.Options{TTL: 10 * time.Minute}
	if format == "interop" {
		opts.Format = cachekit.Interop
	}
	cache, err := client.Cache(ns, opts)
	if err != nil {
		return err
	}
	runs := 0
	profile := cachekit.Wrap(cache, "profile", func(ctx context.Context, a ...any) (Profile, error) {
		runs++
		return valueFor("go", args{a[0].(int64), a[1].(string), a[2], a[3].(map[string]any)}), nil
	})
	ctx := context.Background()
	if mode == "key" {
		a := argsFor("python")
		k, err := profile.Key(a.id, a.name, a.factor, a.extra)
		if err != nil {
			return err
		}
		fmt.Println(k)
		return nil
	}
	if mode == "write" {
		a := argsFor("go")
		if _, err := profile.Call(ctx, a.id, a.name, a.factor, a.extra); err != nil {
			return err
		}
		if runs != 1 {
			return fmt.Errorf("write: the function ran %d times, want 1", runs)
		}
		return nil
	}
	a := argsFor("python")
	got, err := profile.Call(ctx, a.id, a.name, a.factor, a.extra)
	if err != nil {
		return err
	}
	if expectMiss {
		if runs != 1 {
			return fmt.Errorf("read (%s): an entry of the other format was a hit", format)
		}
		return nil
	}
	if runs != 0 {
		return fmt.Errorf("read (%s): the function ran: not a hit of the value Python wrote", format)
	}
	want := valueFor("python", a)
	if !got.When.Equal(want.When) {
		return fmt.Errorf("read (%s): when %v, want %v", format, got.When, want.When)
	}
	got.When, want.When = time.Time{}, time.Time{}
	if !reflect.DeepEqual(got, want) {
		return fmt.Errorf("read (%s): got %+v, want %+v", format, got, want)
	}
	return nil
}
