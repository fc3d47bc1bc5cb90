// The demo's Go reader: the same cached function (namespace "demo",
// operation "price"). Python cached the value: this call is a hit, and the
// function below does not run.
package main

import (
	"context"
	"fmt"
	"log"
	"os"
	"time"

	cachekit "cachekit.dev/go"
)

type Price struct {
	SKU        string  `msgpack:"sku" json:"sku"`
	Price      float64 `msgpack:"price" json:"price"`
	Currency   string  `msgpack:"currency" json:"currency"`
	InStock    bool    `msgpack:"in_stock" json:"in_stock"`
	ComputedBy string  `msgpack:"computed_by" json:"computed_by"`
}

func main() {
	sku := "sku-42"
	if len(os.Args) > 1 {
		sku = os.Args[1]
	}
	client, err := cachekit.New()
	if err != nil {
		log.Fatal(err)
	}
	defer client.Close()
	demo, err := client.Cache("demo", cachekit.Options{TTL: 5 * time.Minute})
	if err != nil {
		log.Fatal(err)
	}
	ran := false
	price := cachekit.Wrap1(demo, "price", func(ctx context.Context, sku string) (Price, error) {
		ran = true
		return Price{SKU: sku, Currency: "EUR", ComputedBy: "go"}, nil
	})
	t := time.Now()
	value, err := price.Call(context.Background(), sku)
	if err != nil {
		log.Fatal(err)
	}
	how := "hit (the function did not run)"
	if ran {
		how = "MISS: the function ran"
	}
	fmt.Printf("go      price(%q) %s in %8.2f ms: %+v\n", sku, how, float64(time.Since(t).Microseconds())/1000, value)
	if ran {
		os.Exit(1)
	}
}
