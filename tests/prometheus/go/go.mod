module github.com/cachekit/cachekit/tests/prometheus/go

go 1.24

require cachekit.dev/go v0.0.0

require (
	github.com/vmihailenco/msgpack/v5 v5.4.1 // indirect
	github.com/vmihailenco/tagparser/v2 v2.0.0 // indirect
)

replace cachekit.dev/go => ../../../bindings/go
