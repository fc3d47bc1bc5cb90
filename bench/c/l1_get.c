/* L1 hit through the C ABI from a real C caller: ck_get + ck_buf_free of a
 * 100-byte value, linked against target/release/libcachekit.so.
 *
 * Same harness shape as bench/core.rs: calibrate a batch of ~BATCH_MS, then
 * ROUNDS timed batches (alternating ck_get, ck_get_borrowed and ck_make_key,
 * key derivation alone through the ABI), median and p10/p90 of per-op ns over rounds.
 * Prints markdown table rows and one target row. Never fails on a timing.
 *
 * Build (bench/run.sh does this):
 *   cc -O2 -Iinclude bench/c/l1_get.c -Ltarget/release -lcachekit \
 *      -Wl,-rpath,$PWD/target/release -o target/release/ck_bench_l1
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "cachekit.h"

static double now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

static int env_num(const char *name, int dflt) {
    const char *v = getenv(name);
    int n = v ? atoi(v) : 0;
    return n > 0 ? n : dflt;
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double rank(double *v, int n, double q) {
    return v[(int)((n - 1) * q + 0.5)];
}

static const ck_cache *g_cache;
static const char *OP = "get_user";
/* [42, "alice-0"] */
static const uint8_t ARGS[] = {0x92, 0x2a, 0xa7, 'a', 'l', 'i', 'c', 'e', '-', '0'};
static volatile uint64_t sink;

static void check(enum ck_status st, const char *what) {
    if (st != CK_OK) {
        fprintf(stderr, "%s failed (%d): %s\n", what, (int)st, ck_last_error());
        exit(1);
    }
}

static void run_get(uint64_t n) {
    for (uint64_t i = 0; i < n; i++) {
        ck_buf buf = {0};
        bool found = false;
        ck_get(g_cache, OP, ARGS, sizeof ARGS, &buf, &found);
        sink += buf.len + (uint64_t)found;
        ck_buf_free(&buf);
    }
}

static void run_borrowed(uint64_t n) {
    for (uint64_t i = 0; i < n; i++) {
        const uint8_t *data = NULL;
        size_t len = 0;
        bool found = false;
        ck_get_borrowed(g_cache, OP, ARGS, sizeof ARGS, &data, &len, &found);
        sink += len + (uint64_t)found + (data ? data[0] : 0);
    }
}

static void run_key(uint64_t n) {
    for (uint64_t i = 0; i < n; i++) {
        ck_buf buf = {0};
        ck_make_key(g_cache, OP, ARGS, sizeof ARGS, &buf);
        sink += buf.len;
        ck_buf_free(&buf);
    }
}

typedef void (*bench_fn)(uint64_t);

static uint64_t calibrate(bench_fn f, double batch_ns) {
    uint64_t n = 1;
    for (;;) {
        double t = now_ns();
        f(n);
        double e = now_ns() - t;
        if (e >= batch_ns / 8 || n >= (1ull << 32)) {
            uint64_t m = (uint64_t)(batch_ns / (e / (double)n));
            return m ? m : 1;
        }
        n *= 2;
    }
}

static const char *fmt_ns(double ns, char *out) {
    if (ns >= 1e3) snprintf(out, 32, "%.2f µs", ns / 1e3);
    else snprintf(out, 32, "%.0f ns", ns);
    return out;
}

int main(void) {
    int rounds = env_num("CACHEKIT_BENCH_ROUNDS", 21);
    double batch_ns = env_num("CACHEKIT_BENCH_BATCH_MS", 25) * 1e6;

    ck_client *client = NULL;
    ck_cache *cache = NULL;
    check(ck_client_new("{\"redis_url\": null}", &client), "ck_client_new");
    check(ck_cache_new(client, "bench", NULL, &cache), "ck_cache_new");
    uint8_t value[100];
    value[0] = 0xc4;
    value[1] = 98;
    for (int i = 2; i < 100; i++) value[i] = (uint8_t)('a' + i % 26);
    check(ck_set(cache, OP, ARGS, sizeof ARGS, value, sizeof value, 0), "ck_set");
    g_cache = cache;
    {
        ck_buf buf = {0};
        bool found = false;
        check(ck_get(cache, OP, ARGS, sizeof ARGS, &buf, &found), "ck_get");
        if (!found || buf.len != 100 || memcmp(buf.data, value, 100) != 0) {
            fprintf(stderr, "ck_get did not return the stored value\n");
            return 1;
        }
        ck_buf_free(&buf);
    }

#define NCASES 3
    bench_fn fns[NCASES] = {run_get, run_borrowed, run_key};
    const char *names[NCASES] = {
        "C program: `ck_get` + `ck_buf_free`, L1 hit, 100 B value",
        "C program: `ck_get_borrowed` (value lent, nothing to free), L1 hit, 100 B value",
        "C program: `ck_make_key` + `ck_buf_free` (key derivation through the ABI)",
    };
    uint64_t iters[NCASES];
    double *per_op[NCASES];
    for (int c = 0; c < NCASES; c++) {
        iters[c] = calibrate(fns[c], batch_ns);
        per_op[c] = calloc((size_t)rounds, sizeof(double));
    }
    for (int r = 0; r < rounds; r++) {
        for (int j = 0; j < NCASES; j++) {
            int c = (r + j) % NCASES;
            double t = now_ns();
            fns[c](iters[c]);
            per_op[c][r] = (now_ns() - t) / (double)iters[c];
        }
    }
    double med[NCASES];
    for (int c = 0; c < NCASES; c++) {
        qsort(per_op[c], (size_t)rounds, sizeof(double), cmp_double);
        char a[32], b[32], d[32];
        med[c] = rank(per_op[c], rounds, 0.5);
        printf("| %s | %s | %s | %s | %.2f M ops/s |\n", names[c], fmt_ns(med[c], a),
               fmt_ns(rank(per_op[c], rounds, 0.10), b), fmt_ns(rank(per_op[c], rounds, 0.90), d),
               1e3 / med[c]);
    }
    char a[32], b[32], d[32];
    printf("TARGET| L1 hit via C ABI from a C program (`ck_get`+`ck_buf_free`) | %s (p10 %s, p90 %s) | <= 400 ns | %s |\n",
           fmt_ns(med[0], a), fmt_ns(rank(per_op[0], rounds, 0.10), b), fmt_ns(rank(per_op[0], rounds, 0.90), d),
           med[0] <= 400.0 ? "yes" : "**no**");
    printf("TARGET| L1 hit via C ABI from a C program (`ck_get_borrowed`) | %s (p10 %s, p90 %s) | <= 400 ns | %s |\n",
           fmt_ns(med[1], a), fmt_ns(rank(per_op[1], rounds, 0.10), b), fmt_ns(rank(per_op[1], rounds, 0.90), d),
           med[1] <= 400.0 ? "yes" : "**no**");
    ck_cache_free(cache);
    ck_client_free(client);
    return (int)(sink == 0xdeadbeef);
}
