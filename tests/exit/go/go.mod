module github.com/cachekit/cachekit/tests/exit/go

go 1.24

require github.com/cachekit/cachekit/bindings/go v0.0.0

require (
	github.com/vmihailenco/msgpack/v5 v5.4.1 // indirect
	github.com/vmihailenco/tagparser/v2 v2.0.0 // indirect
)

replace github.com/cachekit/cachekit/bindings/go => ../../../bindings/go
