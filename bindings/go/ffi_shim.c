// C side of the cgo boundary (see ffi.go). It lives in a .c file because a
// Go file that uses //export may declare, but not define, C functions in
// its preamble.
#include <pthread.h>
#include <signal.h>

#include "ffi_shim.h"

// Calls that may talk to Redis run with asynchronous signals blocked on
// the calling thread. The Go runtime signals its threads all the time
// (SIGURG for preemption, SIGPROF, SIGCHLD, ...), and the core's blocking
// sockets carry SO_RCVTIMEO/SO_SNDTIMEO, whose reads and writes fail with
// EINTR on any signal even under SA_RESTART: an interrupted read would be
// a spurious L2 error. A blocked signal stays pending and is handled when
// the call returns (a process-directed one goes to another thread at
// once). Fault signals stay unblocked.
static void block_async(sigset_t *old) {
    sigset_t s;
    sigfillset(&s);
    sigdelset(&s, SIGSEGV);
    sigdelset(&s, SIGBUS);
    sigdelset(&s, SIGFPE);
    sigdelset(&s, SIGILL);
    sigdelset(&s, SIGTRAP);
    sigdelset(&s, SIGABRT);
    sigdelset(&s, SIGSYS);
    pthread_sigmask(SIG_BLOCK, &s, old);
}

static void restore(const sigset_t *old) { pthread_sigmask(SIG_SETMASK, old, NULL); }

#define MASKED(T, call)      \
    do {                     \
        sigset_t old_;       \
        block_async(&old_);  \
        T r_ = (call);       \
        restore(&old_);      \
        return r_;           \
    } while (0)

// One foreign call for the whole fill: the outputs come back by value, so
// no Go memory is written by C and nothing escapes to the Go heap.
ckgo_fill_out ckgo_fill_begin(const ck_cache *cache, const char *op, const uint8_t *args, size_t args_len) {
    ckgo_fill_out o = {0};
    sigset_t old;
    block_async(&old);
    o.status = ck_fill_begin_borrowed(cache, op, args, args_len, &o.data, &o.len, &o.lease);
    restore(&old);
    return o;
}

// L1 only: no I/O, so no signal mask (the hit path stays one cheap call).
ckgo_fill_out ckgo_peek(const ck_cache *cache, const char *op, const uint8_t *args, size_t args_len) {
    ckgo_fill_out o = {0};
    o.status = ck_peek_borrowed(cache, op, args, args_len, &o.data, &o.len);
    return o;
}

ck_status ckgo_lease_complete(ck_lease *lease, const uint8_t *value, size_t len, int64_t ttl_ms) {
    MASKED(ck_status, ck_lease_complete(lease, value, len, ttl_ms));
}

ck_status ckgo_delete(const ck_cache *c, const char *op, const uint8_t *args, size_t n, bool *existed) {
    MASKED(ck_status, ck_delete(c, op, args, n, existed));
}

ck_status ckgo_exists(const ck_cache *c, const char *op, const uint8_t *args, size_t n, bool *out) {
    MASKED(ck_status, ck_exists(c, op, args, n, out));
}

ck_status ckgo_ttl(const ck_cache *c, const char *op, const uint8_t *args, size_t n, int64_t *out) {
    MASKED(ck_status, ck_ttl(c, op, args, n, out));
}

ck_status ckgo_clear(const ck_cache *c, uint64_t *out) { MASKED(ck_status, ck_clear(c, out)); }

ck_status ckgo_clear_operation(const ck_cache *c, const char *op, uint64_t *out) {
    MASKED(ck_status, ck_clear_operation(c, op, out));
}

ck_status ckgo_flush(const ck_client *c, uint64_t timeout_ms, uint64_t *pending) {
    MASKED(ck_status, ck_flush(c, timeout_ms, pending));
}

ck_status ckgo_check_health(const ck_cache *c, ck_buf *out) { MASKED(ck_status, ck_check_health(c, out)); }

void ckgo_client_free(ck_client *c) {
    sigset_t old;
    block_async(&old);
    ck_client_free(c);
    restore(&old);
}

void ckgo_log_trampoline(void *user_data, uint8_t level, const char *json) {
    goCachekitLog(user_data, level, (char *)json);
}

ck_status ckgo_set_log(uint8_t min_level, int on) {
    return ck_set_log_callback(on ? ckgo_log_trampoline : NULL, NULL, min_level);
}
