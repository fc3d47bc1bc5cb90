/* Exits right after asynchronous misses whose Redis writes are still behind
 * the caller, with a thread still inside blocking calls: ck_shutdown, then
 * return from main. Any callback that starts after ck_shutdown returned is
 * reported on stderr (the run fails). Prints one line on success. */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cachekit.h"

static atomic_bool shut_down;
static atomic_int completions;

static void late(const char *what) {
    if (atomic_load(&shut_down)) fprintf(stderr, "a %s callback after ck_shutdown\n", what);
}

static void on_log(void *user, uint8_t level, const char *json) {
    (void)user; (void)level; (void)json;
    late("log");
}

static void on_done(void *user, ck_status status, ck_buf value, bool found, ck_lease *lease) {
    (void)user; (void)status; (void)found;
    late("completion");
    ck_buf_free(&value);
    if (lease) ck_lease_complete_async(lease, (const uint8_t *)"\x01", 1, 0, NULL, NULL);
    atomic_fetch_add(&completions, 1);
}

static const ck_cache *cache;

static void *caller(void *arg) {
    (void)arg;
    uint8_t args[2] = {0x91, 0};
    for (unsigned i = 0;; i++) { /* still calling when main returns */
        args[1] = (uint8_t)(i % 64);
        ck_buf v = {0};
        bool found = false;
        ck_get(cache, "t", args, 2, &v, &found);
        ck_buf_free(&v);
        ck_set(cache, "t", args, 2, (const uint8_t *)"\x02", 1, 0);
    }
    return NULL;
}

static void check(ck_status s, const char *what) {
    if (s != CK_OK) {
        fprintf(stderr, "%s: %s: %s\n", what, ck_status_name(s), ck_last_error());
        exit(1);
    }
}

int main(int argc, char **argv) {
    if (argc < 3) return 2;
    long run = strtol(argv[2], NULL, 10);
    check(ck_set_log_callback(on_log, NULL, 10), "ck_set_log_callback");
    ck_client *client = NULL;
    check(ck_client_new(NULL, &client), "ck_client_new");
    ck_cache *c = NULL;
    check(ck_cache_new(client, argv[1], "{\"l1_enabled\": false}", &c), "ck_cache_new");
    cache = c;
    pthread_t t;
    pthread_create(&t, NULL, caller, NULL);
    int pending_calls = 0;
    for (int i = 0; i < 8; i++) {
        uint8_t args[3] = {0x92, (uint8_t)(run & 0x7f), (uint8_t)i};
        ck_buf v = {0};
        ck_lease *lease = NULL;
        bool pending = false;
        check(ck_fill_begin_async(c, "f", args, 3, on_done, NULL, &v, &lease, &pending), "ck_fill_begin_async");
        ck_buf_free(&v);
        if (lease) check(ck_lease_complete_async(lease, (const uint8_t *)"\x03", 1, 0, NULL, NULL), "complete");
        pending_calls += pending;
    }
    uint64_t left = 0;
    check(ck_shutdown(5000, &left), "ck_shutdown");
    atomic_store(&shut_down, true);
    /* Refused now: its completion would never be called. */
    uint8_t args[3] = {0x92, 0x7f, 0x7f};
    ck_buf v = {0};
    ck_lease *lease = NULL;
    bool pending = false;
    ck_status s = ck_fill_begin_async(c, "f", args, 3, on_done, NULL, &v, &lease, &pending);
    if (s != CK_CLOSED && !(s == CK_OK && !pending)) {
        fprintf(stderr, "an async call after ck_shutdown: %s, pending %d\n", ck_status_name(s), pending);
        return 1;
    }
    if (lease) ck_lease_abort(lease);
    ck_buf_free(&v);
    printf("ok %ld %d\n", run, pending_calls);
    return 0;
}
