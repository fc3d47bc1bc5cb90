package main

import "github.com/vmihailenco/msgpack/v5"

func msgpackLen(v any) (int, error) {
	b, err := msgpack.Marshal(v)
	return len(b), err
}
