// A cached Go function: the first call runs it, the second is a hit.
// L1-only unless CACHEKIT_REDIS_URL (or REDIS_URL) is set; with Redis, a
// second run of this program (or a Python/PHP/Node program with the same
// namespace, operation and arguments) is a hit from the first call on.
//
//	cd examples/go && go run .
package main

import (
	"context"
	"fmt"
	"log"
	"time"

	cachekit "cachekit.dev/go"
)

type User struct {
	ID    int       `json:"id"`
	Name  string    `json:"name"`
	Since time.Time `json:"since"`
}

func fetchUser(ctx context.Context, id int) (User, error) {
	time.Sleep(200 * time.Millisecond) // a slow database
	return User{ID: id, Name: fmt.Sprintf("user %d", id), Since: time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)}, nil
}

func main() {
	client, err := cachekit.New() // settings from the CACHEKIT_* environment
	if err != nil {
		log.Fatal(err)
	}
	defer client.Close() // waits for the Redis writes made behind callers

	users, err := client.Cache("users", cachekit.Options{TTL: 10 * time.Minute})
	if err != nil {
		log.Fatal(err)
	}
	defer users.Close()
	getUser := cachekit.Wrap1(users, "get_user", fetchUser)

	ctx := context.Background()
	for i := 0; i < 2; i++ {
		start := time.Now()
		u, err := getUser.Call(ctx, 42)
		if err != nil {
			log.Fatal(err)
		}
		fmt.Printf("call %d: %+v in %v\n", i+1, u, time.Since(start).Round(time.Microsecond))
	}
	key, _ := getUser.Key(42)
	fmt.Println("key:", key)
	h, _ := users.Health()
	fmt.Println("backend:", h["backend"])
}
