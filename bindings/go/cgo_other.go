//go:build cgo && !(linux && amd64)

package cachekit

// A platform without a prebuilt core in this module: build the core there
// (`cargo build --release --lib` in the repository) and link it through
// CGO_LDFLAGS="-L/dir/with/libcachekit.a", or ../../target/release of a
// checkout. Supported platforms have a cgo_<goos>_<goarch>.go of their own.

// #cgo LDFLAGS: -L${SRCDIR}/../../target/release -l:libcachekit.a -lm -ldl -lpthread
import "C"
