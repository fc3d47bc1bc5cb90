//go:build linux && amd64 && cgo

package cachekit

// Link flags for linux/amd64. lib/linux_amd64/libcachekit.a is the stripped
// release core that the published module carries (ci/package.sh puts it
// there; it is not in git); ../../target/release is a checkout's own
// `cargo build --release --lib`. CGO_LDFLAGS directories come before both.

// #cgo LDFLAGS: -L${SRCDIR}/lib/linux_amd64 -L${SRCDIR}/../../target/release -l:libcachekit.a -lm -ldl -lpthread
import "C"
