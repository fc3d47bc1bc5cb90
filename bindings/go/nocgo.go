//go:build !cgo

package cachekit

// Without cgo the package cannot call the Rust core: every other file of it
// needs cgo (//go:build cgo), so a CGO_ENABLED=0 build stops here, with the
// reason as its only error:
//
//	undefined: cachekit_needs_cgo__set_CGO_ENABLED_1_and_install_a_C_compiler_such_as_gcc
//
// (Go turns cgo off by itself when it finds no C compiler, and when
// cross-compiling.)
var _ = cachekit_needs_cgo__set_CGO_ENABLED_1_and_install_a_C_compiler_such_as_gcc
