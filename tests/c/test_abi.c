/*
 * C-level tests of the cachekit ABI (include/cachekit.h).
 *
 * Exercises every function of the header, including its error paths, once
 * against an L1-only client and, when CACHEKIT_TEST_REDIS_URL is set, a
 * second time against that Redis, plus checks that only make sense with an
 * L2 (cross-client reads, encryption with another master key, fail-open and
 * fail-closed on a dead backend).
 *
 * Without CACHEKIT_TEST_REDIS_URL the program fails unless run with
 * --l1-only, so a CI run can never silently skip the Redis part.
 *
 * Prints "N passed, M failed" on the last line; exits non-zero on failure.
 */
#define _POSIX_C_SOURCE 200809L

#include "cachekit.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* ---- assertions ---------------------------------------------------------- */

static int g_checks;
static int g_failed;
static const char *g_pass = "-";    /* "l1" or "redis": which suite pass runs */
static const char *g_section = "-"; /* the test function being run */

static bool check_impl(bool ok, int line, const char *expr) {
    g_checks++;
    if (!ok) {
        g_failed++;
        fprintf(stderr, "FAIL [%s/%s] line %d: %s\n", g_pass, g_section, line, expr);
    }
    return ok;
}

/* CHECK(cond): one check. */
#define CHECK(cond) check_impl((cond) ? true : false, __LINE__, #cond)

static const char *status_name(ck_status s) { return ck_status_name((uint32_t)s); }

/* One check: the call returned `want`; on an error status, ck_last_error()
 * is also checked to be non-empty (a second check). */
static bool check_status_impl(ck_status got, ck_status want, int line, const char *expr) {
    g_checks++;
    if (got != want) {
        g_failed++;
        fprintf(stderr, "FAIL [%s/%s] line %d: %s returned %s, expected %s (last error: %s)\n",
                g_pass, g_section, line, expr, status_name(got), status_name(want),
                ck_last_error() ? ck_last_error() : "<NULL>");
        return false;
    }
    if (want != CK_OK) {
        const char *msg = ck_last_error();
        return check_impl(msg != NULL && msg[0] != '\0', line, "ck_last_error() is non-empty after an error");
    }
    return true;
}

#define CHECK_ST(call, want) check_status_impl((call), (want), __LINE__, #call)

/* The last error mentions `needle`. */
#define CHECK_ERR_HAS(needle)                                                          \
    do {                                                                               \
        const char *m_ = ck_last_error();                                              \
        if (!check_impl(m_ != NULL && strstr(m_, (needle)) != NULL, __LINE__,          \
                        "ck_last_error() mentions \"" needle "\""))                    \
            fprintf(stderr, "      last error was: %s\n", m_ ? m_ : "<NULL>");        \
    } while (0)

/* A buffer holds exactly these bytes. */
static bool buf_eq(const ck_buf *b, const uint8_t *p, size_t n) {
    return b->len == n && b->data != NULL && memcmp(b->data, p, n) == 0;
}

/* A library buffer (JSON, key) contains this text. */
static bool buf_has(const ck_buf *b, const char *needle) {
    size_t n = strlen(needle);
    if (b->data == NULL || b->len < n) return false;
    for (size_t i = 0; i + n <= b->len; i++)
        if (memcmp(b->data + i, needle, n) == 0) return true;
    return false;
}

static bool buf_empty(const ck_buf *b) { return b->data == NULL && b->len == 0; }

/* A MessagePack literal as the (pointer, length) argument pair. */
#define MP(...) (const uint8_t[]){__VA_ARGS__}, sizeof((const uint8_t[]){__VA_ARGS__})

static void sleep_ms(long ms) {
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0) {
    }
}

static long long now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Give ck_last_error() a known, different content, so that the next check
 * proves the following call set its own message. */
static const char *RESET_MSG_PART = "does not parse";
static void reset_last_error(void) {
    ck_client *c = NULL;
    if (ck_client_new("{", &c) != CK_CONFIG) {
        fprintf(stderr, "internal: could not reset the last error\n");
        exit(2);
    }
}

/* ---- fixtures ------------------------------------------------------------ */

static char g_cfg[1024];      /* client config of the current pass */
static bool g_redis;          /* the current pass has an L2 */
static const char *g_redis_url;

/* A namespace unique to this process and pass (valid in both formats). */
static const char *ns(const char *base) {
    static char bufs[16][96];
    static int next;
    char *b = bufs[next++ % 16];
    snprintf(b, sizeof bufs[0], "ct%ld-%s-%s", (long)getpid(), g_pass, base);
    return b;
}

static ck_client *client_or_die(const char *cfg) {
    ck_client *c = NULL;
    ck_status st = ck_client_new(cfg, &c);
    if (st != CK_OK || c == NULL) {
        fprintf(stderr, "FATAL [%s/%s]: ck_client_new(%s) = %s: %s\n", g_pass, g_section,
                cfg ? cfg : "NULL", status_name(st), ck_last_error());
        exit(2);
    }
    return c;
}

static ck_cache *cache_or_die(const ck_client *cl, const char *name, const char *opts) {
    ck_cache *c = NULL;
    ck_status st = ck_cache_new(cl, name, opts, &c);
    if (st != CK_OK || c == NULL) {
        fprintf(stderr, "FATAL [%s/%s]: ck_cache_new(%s, %s) = %s: %s\n", g_pass, g_section, name,
                opts ? opts : "NULL", status_name(st), ck_last_error());
        exit(2);
    }
    return c;
}

/* {"a": 1, "b": [true, nil]} */
static const uint8_t VALUE_MAP[] = {0x82, 0xa1, 'a', 0x01, 0xa1, 'b', 0x92, 0xc3, 0xc0};
/* "computed" */
static const uint8_t VALUE_STR[] = {0xa8, 'c', 'o', 'm', 'p', 'u', 't', 'e', 'd'};

#define KEY1 "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
#define KEY2 "fedcba9876543210fedcba9876543210fedcba9876543210fedcba9876543210"

/* ---- basics -------------------------------------------------------------- */

static void *empty_error_thread(void *arg) {
    const char *m = ck_last_error();
    *(int *)arg = (m != NULL && m[0] == '\0') ? 1 : 0;
    return NULL;
}

static void test_basics(void) {
    g_section = "basics";
    CHECK(ck_abi_version() == CK_ABI_VERSION);
    CHECK(ck_abi_version() == 1);

    const char *v = ck_version();
    CHECK(v != NULL && v[0] != '\0');
    CHECK(v != NULL && strchr(v, '.') != NULL);
    CHECK(v == ck_version()); /* static */

    /* The last error is per thread: a fresh thread has none. */
    reset_last_error();
    CHECK(ck_last_error() != NULL && strstr(ck_last_error(), RESET_MSG_PART) != NULL);
    int empty = 0;
    pthread_t t;
    CHECK(pthread_create(&t, NULL, empty_error_thread, &empty) == 0);
    pthread_join(t, NULL);
    CHECK(empty == 1);
    /* ...and a successful call does not clear this thread's. */
    CHECK(ck_abi_version() == 1);
    CHECK(strstr(ck_last_error(), RESET_MSG_PART) != NULL);

    /* ck_buf_free: empty buffer, twice, NULL. */
    ck_buf b = {NULL, 0};
    ck_buf_free(&b);
    CHECK(buf_empty(&b));
    ck_buf_free(&b);
    CHECK(buf_empty(&b));
    ck_buf_free(NULL);

    /* A real buffer, freed twice. */
    ck_client *cl = client_or_die(g_cfg);
    ck_cache *c = cache_or_die(cl, ns("basics"), NULL);
    CHECK_ST(ck_make_key(c, "op", MP(0x90), &b), CK_OK);
    CHECK(b.data != NULL && b.len > 0);
    ck_buf_free(&b);
    CHECK(buf_empty(&b));
    ck_buf_free(&b);
    CHECK(buf_empty(&b));

    /* The NULL no-ops. */
    ck_client_free(NULL);
    ck_cache_free(NULL);
    ck_lease_abort(NULL);
    CHECK(1); /* reached: no crash */

    ck_cache_free(c);
    ck_client_free(cl);
}

/* ---- ck_client_new ------------------------------------------------------- */

static bool env_has(const char *name) {
    const char *v = getenv(name);
    return v != NULL && v[0] != '\0';
}

static void test_client_new(void) {
    g_section = "client_new";
    ck_client *cl = NULL;
    ck_buf h = {0};

    /* NULL config: the environment decides; L1-only without a Redis URL. */
    CHECK_ST(ck_client_new(NULL, &cl), CK_OK);
    CHECK(cl != NULL);
    if (cl) {
        ck_cache *c = cache_or_die(cl, ns("nullcfg"), NULL);
        bool env_redis = env_has("CACHEKIT_REDIS_URL") || env_has("REDIS_URL");
        CHECK_ST(ck_health(c, &h), CK_OK);
        if (env_redis)
            CHECK(buf_has(&h, "\"backend\":\"redis\""));
        else
            CHECK(buf_has(&h, "\"backend\":\"none\""));
        ck_buf_free(&h);
        /* Works as a cache either way (L1 at least). */
        bool found = false;
        ck_buf v = {0};
        CHECK_ST(ck_set(c, "op", MP(0x90), VALUE_MAP, sizeof VALUE_MAP, 0), CK_OK);
        CHECK_ST(ck_get(c, "op", MP(0x90), &v, &found), CK_OK);
        CHECK(found && buf_eq(&v, VALUE_MAP, sizeof VALUE_MAP));
        ck_buf_free(&v);
        ck_cache_free(c);
        ck_client_free(cl);
    }

    /* Empty / blank config is the same as NULL. */
    cl = NULL;
    CHECK_ST(ck_client_new("", &cl), CK_OK);
    CHECK(cl != NULL);
    ck_client_free(cl);

    /* Explicit JSON overrides the environment: redis_url null => L1-only,
     * default_ttl applies to caches without a ttl option. */
    cl = NULL;
    CHECK_ST(ck_client_new("{\"redis_url\": null, \"default_ttl\": 77, \"l1_max_size_mb\": 8}", &cl), CK_OK);
    CHECK(cl != NULL);
    if (cl) {
        ck_cache *c = cache_or_die(cl, ns("explicit"), NULL);
        CHECK_ST(ck_health(c, &h), CK_OK);
        CHECK(buf_has(&h, "\"backend\":\"none\""));
        CHECK(buf_has(&h, "\"default_ttl\":77"));
        CHECK(buf_has(&h, "\"l1_max_size_mb\":8"));
        ck_buf_free(&h);
        int64_t ttl = 0;
        CHECK_ST(ck_set(c, "op", MP(0x90), MP(0x01), 0), CK_OK);
        CHECK_ST(ck_ttl(c, "op", MP(0x90), &ttl), CK_OK);
        CHECK(ttl > 70000 && ttl <= 77000);
        ck_cache_free(c);
        ck_client_free(cl);
    }

    /* Explicit key_prefix shows in the keys. */
    cl = client_or_die("{\"redis_url\": null, \"key_prefix\": \"app1:\", \"tenant_id\": null}");
    {
        ck_cache *c = cache_or_die(cl, "users", "{\"format\": \"interop\"}");
        ck_buf k = {0};
        CHECK_ST(ck_make_key(c, "get_all", MP(0x90), &k), CK_OK);
        const char *want = "app1:users:get_all:8064bf5f945dba521b017bb3f32b31a293a6e16944838d171ea9e77fab085e8e";
        CHECK(buf_eq(&k, (const uint8_t *)want, strlen(want)));
        ck_buf_free(&k);
        ck_cache_free(c);
    }
    ck_client_free(cl);

    /* Bad JSON, not an object, unknown setting, bad values: CK_CONFIG and
     * the out-param untouched. */
    ck_client *sentinel = (ck_client *)(uintptr_t)0x1;
    cl = sentinel;
    CHECK_ST(ck_client_new("{not json", &cl), CK_CONFIG);
    CHECK(cl == sentinel);
    CHECK_ST(ck_client_new("[1, 2]", &cl), CK_CONFIG);
    CHECK(cl == sentinel);
    CHECK_ST(ck_client_new("{\"no_such_setting\": 1}", &cl), CK_CONFIG);
    CHECK_ERR_HAS("no_such_setting");
    CHECK(cl == sentinel);
    CHECK_ST(ck_client_new("{\"default_ttl\": \"soon\"}", &cl), CK_CONFIG);
    CHECK_ERR_HAS("default_ttl");
    CHECK(cl == sentinel);
    CHECK_ST(ck_client_new("{\"default_ttl\": 0}", &cl), CK_CONFIG);
    CHECK_ERR_HAS("default_ttl");
    CHECK_ST(ck_client_new("{\"redis_url\": \"http://localhost:6379\"}", &cl), CK_CONFIG);
    CHECK_ERR_HAS("redis_url");
    CHECK_ST(ck_client_new("{\"master_key\": \"abc\"}", &cl), CK_CONFIG);
    CHECK_ERR_HAS("master_key");
    CHECK_ST(ck_client_new("{\"l1_enabled\": 3}", &cl), CK_CONFIG);
    CHECK_ERR_HAS("l1_enabled");
    CHECK(cl == sentinel);

    /* Not UTF-8. */
    CHECK_ST(ck_client_new("{\"key_prefix\": \"\xff\xfe\"}", &cl), CK_INVALID_ARGUMENT);
    CHECK_ERR_HAS("UTF-8");
    CHECK(cl == sentinel);

    /* NULL out pointer. */
    reset_last_error();
    CHECK_ST(ck_client_new(NULL, NULL), CK_INVALID_ARGUMENT);
    CHECK_ERR_HAS("out_client");
    CHECK_ST(ck_client_new("{\"default_ttl\": 5}", NULL), CK_INVALID_ARGUMENT);
}

/* ---- ck_cache_new -------------------------------------------------------- */

static void test_cache_new(void) {
    g_section = "cache_new";
    ck_client *cl = client_or_die(g_cfg);
    ck_cache *c = NULL;
    ck_cache *sentinel = (ck_cache *)(uintptr_t)0x1;

    CHECK_ST(ck_cache_new(cl, ns("valid"), NULL, &c), CK_OK);
    CHECK(c != NULL);
    ck_cache_free(c);
    c = NULL;
    CHECK_ST(ck_cache_new(cl, ns("valid"), "{}", &c), CK_OK);
    ck_cache_free(c);
    c = NULL;
    /* Envelope namespaces accept upper case and ':' (e.g. "user_data:v1"). */
    CHECK_ST(ck_cache_new(cl, "User_Data:v1", "{\"ttl\": 60, \"format\": \"envelope\", \"serializer\": \"msgpack\", "
                                              "\"l1_enabled\": true, \"l1_plaintext\": false, \"fail_closed\": false, "
                                              "\"fill_wait_ms\": 500, \"tenant_id\": null}",
                             &c),
             CK_OK);
    ck_cache_free(c);
    c = NULL;
    CHECK_ST(ck_cache_new(cl, "users", "{\"format\": \"interop\"}", &c), CK_OK);
    ck_cache_free(c);

    c = sentinel;
    CHECK_ST(ck_cache_new(cl, "bad ns!", NULL, &c), CK_INVALID_KEY);
    CHECK_ERR_HAS("bad ns!");
    CHECK(c == sentinel);
    CHECK_ST(ck_cache_new(cl, "", NULL, &c), CK_INVALID_KEY);
    CHECK_ST(ck_cache_new(cl, ":lead", NULL, &c), CK_INVALID_KEY);
    CHECK_ST(ck_cache_new(cl, "Upper", "{\"format\": \"interop\"}", &c), CK_INVALID_KEY);
    CHECK_ERR_HAS("Upper");
    CHECK_ST(ck_cache_new(cl, "a:b", "{\"format\": \"interop\"}", &c), CK_INVALID_KEY);
    CHECK_ST(ck_cache_new(cl, "ns", "{\"format\": \"interop\"}", &c), CK_INVALID_KEY); /* reserved */
    CHECK(c == sentinel);

    CHECK_ST(ck_cache_new(cl, "\xff\xfe", NULL, &c), CK_INVALID_ARGUMENT);
    CHECK_ERR_HAS("UTF-8");
    CHECK_ST(ck_cache_new(cl, ns("x"), "{\"format\": \"\xff\"}", &c), CK_INVALID_ARGUMENT);
    CHECK(c == sentinel);

    CHECK_ST(ck_cache_new(cl, ns("x"), "{\"bogus_option\": 1}", &c), CK_CONFIG);
    CHECK_ERR_HAS("bogus_option");
    CHECK_ST(ck_cache_new(cl, ns("x"), "{\"ttl\": 0}", &c), CK_CONFIG);
    CHECK_ERR_HAS("ttl");
    CHECK_ST(ck_cache_new(cl, ns("x"), "{\"format\": \"xml\"}", &c), CK_CONFIG);
    CHECK_ST(ck_cache_new(cl, ns("x"), "{\"encryption\": \"yes\"}", &c), CK_CONFIG);
    CHECK_ST(ck_cache_new(cl, ns("x"), "not json", &c), CK_CONFIG);
    CHECK_ST(ck_cache_new(cl, ns("x"), "[]", &c), CK_CONFIG);
    CHECK_ST(ck_cache_new(cl, "users", "{\"format\": \"interop\", \"serializer\": \"pickle\"}", &c), CK_CONFIG);
    CHECK(c == sentinel);

    /* Encryption. The pass config sets master_key null, so the environment
     * cannot provide one. */
    CHECK_ST(ck_cache_new(cl, ns("enc"), "{\"encryption\": true}", &c), CK_ENCRYPTION);
    CHECK_ERR_HAS("master");
    CHECK_ST(ck_cache_new(cl, ns("enc"), "{\"encryption\": true, \"master_key\": \"nothex\"}", &c), CK_ENCRYPTION);
    CHECK_ST(ck_cache_new(cl, ns("enc"), "{\"encryption\": true, \"master_key\": \"0123\"}", &c), CK_ENCRYPTION);
    CHECK_ST(ck_cache_new(cl, ns("enc"),
                          "{\"encryption\": true, \"master_key\": \"" KEY1 "\", \"decrypt_only_keys\": [\"zz\"]}", &c),
             CK_ENCRYPTION);
    CHECK(c == sentinel);
    c = NULL;
    CHECK_ST(ck_cache_new(cl, ns("enc"), "{\"encryption\": true, \"master_key\": \"" KEY1 "\"}", &c), CK_OK);
    CHECK(c != NULL);
    ck_cache_free(c);
    /* A master key in the client config is used by encrypted namespaces. */
    {
        ck_client *kc = client_or_die("{\"redis_url\": null, \"master_key\": \"" KEY2 "\"}");
        c = NULL;
        CHECK_ST(ck_cache_new(kc, ns("enc"), "{\"encryption\": true}", &c), CK_OK);
        ck_cache_free(c);
        ck_client_free(kc);
    }

    /* NULL pointers. */
    c = sentinel;
    reset_last_error();
    CHECK_ST(ck_cache_new(NULL, ns("x"), NULL, &c), CK_INVALID_ARGUMENT);
    CHECK_ERR_HAS("client");
    reset_last_error();
    CHECK_ST(ck_cache_new(cl, NULL, NULL, &c), CK_INVALID_ARGUMENT);
    CHECK_ERR_HAS("namespace");
    reset_last_error();
    CHECK_ST(ck_cache_new(cl, ns("x"), NULL, NULL), CK_INVALID_ARGUMENT);
    CHECK_ERR_HAS("out_cache");
    CHECK(c == sentinel);

    /* A cache outlives its client. */
    c = cache_or_die(cl, ns("outlive"), NULL);
    ck_client_free(cl);
    {
        bool found = false;
        ck_buf v = {0};
        CHECK_ST(ck_set(c, "op", MP(0x91, 0x05), VALUE_MAP, sizeof VALUE_MAP, 0), CK_OK);
        CHECK_ST(ck_get(c, "op", MP(0x91, 0x05), &v, &found), CK_OK);
        CHECK(found && buf_eq(&v, VALUE_MAP, sizeof VALUE_MAP));
        ck_buf_free(&v);
        bool existed = false;
        CHECK_ST(ck_delete(c, "op", MP(0x91, 0x05), &existed), CK_OK);
        CHECK(existed);
    }
    ck_cache_free(c);
}

/* ---- ck_make_key ---------------------------------------------------------- */

static void test_make_key(void) {
    g_section = "make_key";
    /* Neutral client: no prefix, no tenant, whatever the environment says. */
    ck_client *cl = client_or_die("{\"redis_url\": null, \"key_prefix\": null, \"tenant_id\": null}");
    ck_cache *ic = cache_or_die(cl, "users", "{\"format\": \"interop\"}");
    ck_cache *ec = cache_or_die(cl, "users", NULL);
    ck_buf k = {0}, k2 = {0};

    /* Protocol vector. */
    const char *want = "users:get_all:8064bf5f945dba521b017bb3f32b31a293a6e16944838d171ea9e77fab085e8e";
    CHECK_ST(ck_make_key(ic, "get_all", MP(0x90), &k), CK_OK);
    CHECK(buf_eq(&k, (const uint8_t *)want, strlen(want)));
    ck_buf_free(&k);

    /* Envelope format: same hash, ":e1" suffix. */
    CHECK_ST(ck_make_key(ec, "get_all", MP(0x90), &k), CK_OK);
    CHECK(k.len == strlen(want) + 3);
    CHECK(k.len > 3 && memcmp(k.data + k.len - 3, ":e1", 3) == 0);
    CHECK(k.len > strlen(want) && memcmp(k.data, want, strlen(want)) == 0);
    ck_buf_free(&k);

    /* Canonical args: 1 as fixint, uint16 and float64 1.0 give one key;
     * 2 gives another. */
    CHECK_ST(ck_make_key(ec, "op", MP(0x91, 0x01), &k), CK_OK);
    CHECK_ST(ck_make_key(ec, "op", MP(0x91, 0xcd, 0x00, 0x01), &k2), CK_OK);
    CHECK(k.len == k2.len && k.data && k2.data && memcmp(k.data, k2.data, k.len) == 0);
    ck_buf_free(&k2);
    CHECK_ST(ck_make_key(ec, "op", MP(0x91, 0xcb, 0x3f, 0xf0, 0, 0, 0, 0, 0, 0), &k2), CK_OK);
    CHECK(k.len == k2.len && k.data && k2.data && memcmp(k.data, k2.data, k.len) == 0);
    ck_buf_free(&k2);
    CHECK_ST(ck_make_key(ec, "op", MP(0x91, 0x02), &k2), CK_OK);
    CHECK(k.len == k2.len && k.data && k2.data && memcmp(k.data, k2.data, k.len) != 0);
    ck_buf_free(&k2);
    /* The operation is part of the key. */
    CHECK_ST(ck_make_key(ec, "op2", MP(0x91, 0x01), &k2), CK_OK);
    CHECK(!(k.len == k2.len && memcmp(k.data, k2.data, k.len) == 0));
    ck_buf_free(&k2);
    ck_buf_free(&k);

    /* Errors leave the out buffer untouched. */
    ck_buf sentinel = {(const uint8_t *)"x", 1};
    k = sentinel;
    CHECK_ST(ck_make_key(ec, "op", MP(0x01), &k), CK_ENCODE);            /* not an array */
    CHECK_ST(ck_make_key(ic, "op", MP(0x81, 0xa1, 'a', 0x01), &k), CK_ENCODE); /* a map */
    CHECK_ST(ck_make_key(ec, "op", MP(0x91, 0xcb, 0x7f, 0xf8, 0, 0, 0, 0, 0, 0), &k), CK_ENCODE); /* NaN */
    CHECK_ST(ck_make_key(ic, "op", MP(0x91, 0xcb, 0x7f, 0xf8, 0, 0, 0, 0, 0, 0), &k), CK_ENCODE);
    CHECK_ST(ck_make_key(ec, "op", MP(0x91, 0xcb, 0x7f, 0xf0, 0, 0, 0, 0, 0, 0), &k), CK_ENCODE); /* +inf */
    CHECK_ST(ck_make_key(ec, "op", MP(0x92, 0x01), &k), CK_ENCODE);      /* truncated */
    CHECK_ST(ck_make_key(ec, "op", MP(0x90, 0x90), &k), CK_ENCODE);      /* trailing bytes */
    CHECK_ST(ck_make_key(ec, "op", MP(0x91, 0xc1), &k), CK_ENCODE);      /* never-used byte */
    CHECK_ST(ck_make_key(ec, "op", NULL, 0, &k), CK_ENCODE);             /* empty input */
    CHECK(k.data == sentinel.data && k.len == 1);

    /* Operation segment rules. */
    CHECK_ST(ck_make_key(ec, "bad op", MP(0x90), &k), CK_INVALID_KEY);
    CHECK_ST(ck_make_key(ec, "a:b", MP(0x90), &k), CK_INVALID_KEY);
    CHECK_ST(ck_make_key(ic, "GetAll", MP(0x90), &k), CK_INVALID_KEY);
    CHECK_ST(ck_make_key(ec, "", MP(0x90), &k), CK_INVALID_KEY);
    CHECK_ST(ck_make_key(ec, "\xc3\x28", MP(0x90), &k), CK_INVALID_ARGUMENT); /* not UTF-8 */
    CHECK(k.data == sentinel.data && k.len == 1);

    /* NULL pointers. */
    reset_last_error();
    CHECK_ST(ck_make_key(NULL, "op", MP(0x90), &k), CK_INVALID_ARGUMENT);
    CHECK_ERR_HAS("cache");
    reset_last_error();
    CHECK_ST(ck_make_key(ec, NULL, MP(0x90), &k), CK_INVALID_ARGUMENT);
    CHECK_ERR_HAS("operation");
    reset_last_error();
    CHECK_ST(ck_make_key(ec, "op", NULL, 1, &k), CK_INVALID_ARGUMENT);
    CHECK_ERR_HAS("args");
    reset_last_error();
    CHECK_ST(ck_make_key(ec, "op", MP(0x90), NULL), CK_INVALID_ARGUMENT);
    CHECK_ERR_HAS("out_key");
    CHECK(k.data == sentinel.data && k.len == 1);
    /* A length that does not fit isize. */
    CHECK_ST(ck_make_key(ec, "op", (const uint8_t *)"\x90", SIZE_MAX, &k), CK_INVALID_ARGUMENT);

    ck_cache_free(ic);
    ck_cache_free(ec);
    ck_client_free(cl);
}

/* ---- set / get / exists / ttl / delete / clear ---------------------------- */

static void test_ops(void) {
    g_section = "ops";
    ck_client *cl = client_or_die(g_cfg);
    ck_cache *c = cache_or_die(cl, ns("ops"), "{\"ttl\": 120}");
    ck_buf v = {0};
    bool found = true, exists = true, existed = false;
    int64_t ttl = 0;
    uint64_t deleted = 99;

    /* Cold. */
    CHECK_ST(ck_clear(c, NULL), CK_OK);
    CHECK_ST(ck_get(c, "get", MP(0x91, 0x01), &v, &found), CK_OK);
    CHECK(!found);
    CHECK(buf_empty(&v));
    CHECK_ST(ck_exists(c, "get", MP(0x91, 0x01), &exists), CK_OK);
    CHECK(!exists);
    CHECK_ST(ck_ttl(c, "get", MP(0x91, 0x01), &ttl), CK_OK);
    CHECK(ttl == -2);

    /* Round trip with the namespace TTL (ttl_ms 0). */
    CHECK_ST(ck_set(c, "get", MP(0x91, 0x01), VALUE_MAP, sizeof VALUE_MAP, 0), CK_OK);
    CHECK_ST(ck_get(c, "get", MP(0x91, 0x01), &v, &found), CK_OK);
    CHECK(found);
    CHECK(buf_eq(&v, VALUE_MAP, sizeof VALUE_MAP));
    ck_buf_free(&v);
    /* The same arguments encoded differently hit the same entry. */
    found = false;
    CHECK_ST(ck_get(c, "get", MP(0x91, 0xcd, 0x00, 0x01), &v, &found), CK_OK);
    CHECK(found && buf_eq(&v, VALUE_MAP, sizeof VALUE_MAP));
    ck_buf_free(&v);
    /* Other args, other operation: misses. */
    found = true;
    CHECK_ST(ck_get(c, "get", MP(0x91, 0x02), &v, &found), CK_OK);
    CHECK(!found && buf_empty(&v));
    found = true;
    CHECK_ST(ck_get(c, "other", MP(0x91, 0x01), &v, &found), CK_OK);
    CHECK(!found && buf_empty(&v));
    CHECK_ST(ck_exists(c, "get", MP(0x91, 0x01), &exists), CK_OK);
    CHECK(exists);
    CHECK_ST(ck_exists(c, "get", MP(0x91, 0x02), &exists), CK_OK);
    CHECK(!exists);
    CHECK_ST(ck_ttl(c, "get", MP(0x91, 0x01), &ttl), CK_OK);
    CHECK(ttl > 110000 && ttl <= 120000);
    CHECK_ST(ck_ttl(c, "get", MP(0x91, 0x02), &ttl), CK_OK);
    CHECK(ttl == -2);

    /* Overwrite with an explicit TTL. */
    CHECK_ST(ck_set(c, "get", MP(0x91, 0x01), VALUE_STR, sizeof VALUE_STR, 30000), CK_OK);
    CHECK_ST(ck_get(c, "get", MP(0x91, 0x01), &v, &found), CK_OK);
    CHECK(found && buf_eq(&v, VALUE_STR, sizeof VALUE_STR));
    ck_buf_free(&v);
    CHECK_ST(ck_ttl(c, "get", MP(0x91, 0x01), &ttl), CK_OK);
    CHECK(ttl > 25000 && ttl <= 30000);

    /* Scalars and nil are values too. */
    CHECK_ST(ck_set(c, "scalar", MP(0x90), MP(0xc0), 0), CK_OK);
    CHECK_ST(ck_get(c, "scalar", MP(0x90), &v, &found), CK_OK);
    CHECK(found && buf_eq(&v, (const uint8_t[]){0xc0}, 1));
    ck_buf_free(&v);

    /* Delete: true, then false. */
    CHECK_ST(ck_delete(c, "get", MP(0x91, 0x01), &existed), CK_OK);
    CHECK(existed);
    existed = true;
    CHECK_ST(ck_delete(c, "get", MP(0x91, 0x01), &existed), CK_OK);
    CHECK(!existed);
    CHECK_ST(ck_get(c, "get", MP(0x91, 0x01), &v, &found), CK_OK);
    CHECK(!found && buf_empty(&v));
    CHECK_ST(ck_exists(c, "get", MP(0x91, 0x01), &exists), CK_OK);
    CHECK(!exists);
    CHECK_ST(ck_ttl(c, "get", MP(0x91, 0x01), &ttl), CK_OK);
    CHECK(ttl == -2);
    CHECK_ST(ck_delete(c, "scalar", MP(0x90), NULL), CK_OK); /* out_existed may be NULL */
    CHECK_ST(ck_exists(c, "scalar", MP(0x90), &exists), CK_OK);
    CHECK(!exists);

    /* Expiry. */
    CHECK_ST(ck_set(c, "short", MP(0x90), MP(0x2a), 150), CK_OK);
    CHECK_ST(ck_get(c, "short", MP(0x90), &v, &found), CK_OK);
    CHECK(found && buf_eq(&v, (const uint8_t[]){0x2a}, 1));
    ck_buf_free(&v);
    sleep_ms(400);
    CHECK_ST(ck_get(c, "short", MP(0x90), &v, &found), CK_OK);
    CHECK(!found && buf_empty(&v));
    CHECK_ST(ck_exists(c, "short", MP(0x90), &exists), CK_OK);
    CHECK(!exists);
    CHECK_ST(ck_ttl(c, "short", MP(0x90), &ttl), CK_OK);
    CHECK(ttl == -2);

    /* Values that are not one MessagePack document: CK_ENCODE. */
    CHECK_ST(ck_set(c, "bad", MP(0x90), MP(0xc1), 0), CK_ENCODE);
    CHECK_ERR_HAS("MessagePack");
    CHECK_ST(ck_set(c, "bad", MP(0x90), MP(0x01, 0x02), 0), CK_ENCODE); /* two documents */
    CHECK_ST(ck_set(c, "bad", MP(0x90), MP(0x92, 0x01), 0), CK_ENCODE); /* truncated */
    CHECK_ST(ck_set(c, "bad", MP(0x90), NULL, 0, 0), CK_ENCODE);        /* empty */
    CHECK_ST(ck_exists(c, "bad", MP(0x90), &exists), CK_OK);
    CHECK(!exists);
    /* A value that cannot be stored does not leave the older one visible. */
    CHECK_ST(ck_set(c, "replace", MP(0x90), MP(0x01), 0), CK_OK);
    CHECK_ST(ck_set(c, "replace", MP(0x90), MP(0xc1), 0), CK_ENCODE);
    found = true;
    CHECK_ST(ck_get(c, "replace", MP(0x90), &v, &found), CK_OK);
    if (!CHECK(!found))
        fprintf(stderr, "      the previous value is still returned after a failed ck_set\n");
    ck_buf_free(&v);
    CHECK_ST(ck_delete(c, "replace", MP(0x90), NULL), CK_OK);

    /* Negative TTL. */
    CHECK_ST(ck_set(c, "neg", MP(0x90), MP(0x01), -1), CK_INVALID_ARGUMENT);
    CHECK_ERR_HAS("ttl_ms");
    CHECK_ST(ck_exists(c, "neg", MP(0x90), &exists), CK_OK);
    CHECK(!exists);

    /* Bad args and operations on every keyed call. */
    CHECK_ST(ck_get(c, "get", MP(0x01), &v, &found), CK_ENCODE);
    CHECK_ST(ck_set(c, "get", MP(0x01), MP(0x01), 0), CK_ENCODE);
    CHECK_ST(ck_exists(c, "get", MP(0x91, 0xcb, 0x7f, 0xf8, 0, 0, 0, 0, 0, 0), &exists), CK_ENCODE);
    CHECK_ST(ck_ttl(c, "get", MP(0xc1), &ttl), CK_ENCODE);
    CHECK_ST(ck_delete(c, "get", MP(0x80), NULL), CK_ENCODE);
    CHECK_ST(ck_get(c, "bad op", MP(0x90), &v, &found), CK_INVALID_KEY);
    CHECK_ST(ck_set(c, "bad op", MP(0x90), MP(0x01), 0), CK_INVALID_KEY);
    CHECK_ST(ck_exists(c, "bad op", MP(0x90), &exists), CK_INVALID_KEY);
    CHECK_ST(ck_ttl(c, "bad op", MP(0x90), &ttl), CK_INVALID_KEY);
    CHECK_ST(ck_delete(c, "bad op", MP(0x90), NULL), CK_INVALID_KEY);
    CHECK_ST(ck_get(c, "\xff", MP(0x90), &v, &found), CK_INVALID_ARGUMENT);
    CHECK_ST(ck_set(c, "\xff", MP(0x90), MP(0x01), 0), CK_INVALID_ARGUMENT);

    /* Clear. */
    CHECK_ST(ck_clear(c, &deleted), CK_OK);
    CHECK_ST(ck_set(c, "a", MP(0x90), MP(0x01), 0), CK_OK);
    CHECK_ST(ck_set(c, "b", MP(0x90), MP(0x02), 0), CK_OK);
    CHECK_ST(ck_set(c, "c", MP(0x91, 0x01), MP(0x03), 0), CK_OK);
    deleted = 99;
    CHECK_ST(ck_clear(c, &deleted), CK_OK);
    CHECK(deleted == (g_redis ? 3u : 0u));
    CHECK_ST(ck_get(c, "a", MP(0x90), &v, &found), CK_OK);
    CHECK(!found);
    CHECK_ST(ck_get(c, "b", MP(0x90), &v, &found), CK_OK);
    CHECK(!found);
    CHECK_ST(ck_exists(c, "c", MP(0x91, 0x01), &exists), CK_OK);
    CHECK(!exists);
    CHECK_ST(ck_clear(c, NULL), CK_OK);

    /* Clearing one namespace leaves the others alone, including one whose
     * name extends it ("x" and "x:v1"). */
    {
        char child[128];
        snprintf(child, sizeof child, "%s:v1", ns("ops"));
        ck_cache *other = cache_or_die(cl, ns("other"), NULL);
        /* Without L1 on the extended namespace, so that its L2 entry is what
         * is read back when there is an L2. */
        ck_cache *sub = cache_or_die(cl, child, g_redis ? "{\"l1_enabled\": false}" : NULL);
        ck_cache *same = cache_or_die(cl, ns("ops"), NULL);
        CHECK_ST(ck_set(other, "a", MP(0x90), MP(0x01), 0), CK_OK);
        CHECK_ST(ck_set(sub, "a", MP(0x90), MP(0x02), 0), CK_OK);
        CHECK_ST(ck_set(same, "a", MP(0x90), MP(0x03), 0), CK_OK);
        CHECK_ST(ck_clear(c, &deleted), CK_OK);
        CHECK_ST(ck_get(other, "a", MP(0x90), &v, &found), CK_OK);
        CHECK(found && buf_eq(&v, (const uint8_t[]){0x01}, 1));
        ck_buf_free(&v);
        CHECK_ST(ck_get(sub, "a", MP(0x90), &v, &found), CK_OK);
        if (!CHECK(found && buf_eq(&v, (const uint8_t[]){0x02}, 1)))
            fprintf(stderr, "      ck_clear(\"%s\") deleted an entry of namespace \"%s\"\n", ns("ops"), child);
        ck_buf_free(&v);
        if (g_redis) {
            /* Another handle of the cleared namespace keeps its own L1, but
             * the L2 entry is gone. */
            ck_cache *fresh = cache_or_die(cl, ns("ops"), "{\"l1_enabled\": false}");
            CHECK_ST(ck_exists(fresh, "a", MP(0x90), &exists), CK_OK);
            CHECK(!exists);
            ck_cache_free(fresh);
        }
        CHECK_ST(ck_clear(other, NULL), CK_OK);
        CHECK_ST(ck_clear(sub, NULL), CK_OK);
        ck_cache_free(other);
        ck_cache_free(sub);
        ck_cache_free(same);
    }

    ck_cache_free(c);
    ck_client_free(cl);
}

/* Interop format: plain MessagePack values, protocol keys. */
static void test_interop(void) {
    g_section = "interop";
    ck_client *cl = client_or_die(g_cfg);
    ck_cache *c = cache_or_die(cl, ns("interop"), "{\"format\": \"interop\", \"ttl\": 60}");
    ck_buf v = {0};
    bool found = false;

    /* A canonical map round trip. */
    CHECK_ST(ck_set(c, "get", MP(0x91, 0x07), VALUE_MAP, sizeof VALUE_MAP, 0), CK_OK);
    CHECK_ST(ck_get(c, "get", MP(0x91, 0x07), &v, &found), CK_OK);
    CHECK(found && buf_eq(&v, VALUE_MAP, sizeof VALUE_MAP));
    ck_buf_free(&v);
    /* Value profile: NaN is a valid value (it is only refused in keys). */
    CHECK_ST(ck_set(c, "nan", MP(0x90), MP(0xcb, 0x7f, 0xf8, 0, 0, 0, 0, 0, 0), 0), CK_OK);
    /* A timestamp ext is refused as a value (datetimes use sentinel maps). */
    CHECK_ST(ck_set(c, "ts", MP(0x90), MP(0xd6, 0xff, 0, 0, 0, 1), 0), CK_ENCODE);
    /* A map with a non-string key cannot be canonicalised. */
    CHECK_ST(ck_set(c, "intkey", MP(0x90), MP(0x81, 0x01, 0x02), 0), CK_ENCODE);
    CHECK_ST(ck_set(c, "bad", MP(0x90), MP(0xc1), 0), CK_ENCODE);
    CHECK_ST(ck_set(c, "Bad", MP(0x90), MP(0x01), 0), CK_INVALID_KEY);
    CHECK_ST(ck_clear(c, NULL), CK_OK);
    ck_cache_free(c);
    ck_client_free(cl);
}

/* ---- fill leases ---------------------------------------------------------- */

struct stampede {
    ck_cache *cache;
    pthread_barrier_t *barrier;
    int leases;            /* updated with __atomic builtins */
    int index;
    ck_status st_begin, st_complete;
    bool got_lease;
    uint8_t value[64];
    size_t value_len;
    bool value_ok;
};

static struct stampede g_threads[8];

static void *stampede_thread(void *arg) {
    struct stampede *s = arg;
    pthread_barrier_wait(s->barrier);
    ck_buf v = {0};
    ck_lease *lease = NULL;
    s->st_begin = ck_fill_begin(s->cache, "compute", MP(0x91, 0x2a), &v, &lease);
    s->st_complete = CK_OK;
    if (s->st_begin != CK_OK) return NULL;
    if (lease != NULL) {
        __atomic_fetch_add(&g_threads[0].leases, 1, __ATOMIC_SEQ_CST);
        s->got_lease = true;
        s->value_ok = buf_empty(&v);
        sleep_ms(50); /* compute */
        s->st_complete = ck_lease_complete(lease, VALUE_STR, sizeof VALUE_STR, 0);
        memcpy(s->value, VALUE_STR, sizeof VALUE_STR);
        s->value_len = sizeof VALUE_STR;
    } else {
        s->value_ok = v.data != NULL && v.len <= sizeof s->value;
        if (s->value_ok) {
            memcpy(s->value, v.data, v.len);
            s->value_len = v.len;
        }
        ck_buf_free(&v);
    }
    return NULL;
}

struct waiter {
    ck_cache *cache;
    ck_status st;
    bool got_lease;
    bool got_value;
    long long waited_ms;
};

static void *waiter_thread(void *arg) {
    struct waiter *w = arg;
    ck_buf v = {0};
    ck_lease *lease = NULL;
    long long t0 = now_ms();
    w->st = ck_fill_begin(w->cache, "slow", MP(0x90), &v, &lease);
    w->waited_ms = now_ms() - t0;
    w->got_lease = lease != NULL;
    w->got_value = !buf_empty(&v);
    ck_buf_free(&v);
    if (lease) ck_lease_abort(lease);
    return NULL;
}

static void test_fill(void) {
    g_section = "fill";
    ck_client *cl = client_or_die(g_cfg);
    ck_cache *c = cache_or_die(cl, ns("fill"), "{\"ttl\": 90}");
    ck_buf v = {0};
    ck_lease *lease = NULL;
    bool found = false, exists = true;
    int64_t ttl = 0;
    CHECK_ST(ck_clear(c, NULL), CK_OK);

    /* Cold: a lease and an empty value. */
    CHECK_ST(ck_fill_begin(c, "compute", MP(0x91, 0x01), &v, &lease), CK_OK);
    CHECK(lease != NULL);
    CHECK(buf_empty(&v));
    CHECK_ST(ck_lease_complete(lease, VALUE_MAP, sizeof VALUE_MAP, 0), CK_OK);
    /* The Redis write may still be under way: ck_flush waits for it. */
    {
        uint64_t pending = 99;
        CHECK_ST(ck_flush(NULL, 1000, &pending), CK_INVALID_ARGUMENT);
        CHECK_ST(ck_flush(cl, 1000, &pending), CK_OK);
        CHECK(pending == 0);
        CHECK_ST(ck_flush(cl, 0, NULL), CK_OK);
    }
    /* Stored with the namespace TTL. */
    CHECK_ST(ck_get(c, "compute", MP(0x91, 0x01), &v, &found), CK_OK);
    CHECK(found && buf_eq(&v, VALUE_MAP, sizeof VALUE_MAP));
    ck_buf_free(&v);
    CHECK_ST(ck_ttl(c, "compute", MP(0x91, 0x01), &ttl), CK_OK);
    CHECK(ttl > 80000 && ttl <= 90000);
    /* Warm: the value, no lease. */
    lease = (ck_lease *)(uintptr_t)0x1;
    CHECK_ST(ck_fill_begin(c, "compute", MP(0x91, 0x01), &v, &lease), CK_OK);
    CHECK(lease == NULL);
    CHECK(buf_eq(&v, VALUE_MAP, sizeof VALUE_MAP));
    ck_buf_free(&v);
    /* A value set with ck_set is a hit too. */
    CHECK_ST(ck_set(c, "compute", MP(0x91, 0x03), MP(0x03), 0), CK_OK);
    CHECK_ST(ck_fill_begin(c, "compute", MP(0x91, 0x03), &v, &lease), CK_OK);
    CHECK(lease == NULL && buf_eq(&v, (const uint8_t[]){0x03}, 1));
    ck_buf_free(&v);

    /* Explicit TTL on complete. */
    CHECK_ST(ck_fill_begin(c, "compute", MP(0x91, 0x04), &v, &lease), CK_OK);
    CHECK(lease != NULL);
    CHECK_ST(ck_lease_complete(lease, MP(0x04), 20000), CK_OK);
    CHECK_ST(ck_ttl(c, "compute", MP(0x91, 0x04), &ttl), CK_OK);
    CHECK(ttl > 15000 && ttl <= 20000);

    /* Abort: nothing cached; the next caller gets a lease again. */
    CHECK_ST(ck_fill_begin(c, "compute", MP(0x91, 0x02), &v, &lease), CK_OK);
    CHECK(lease != NULL);
    ck_lease_abort(lease);
    CHECK_ST(ck_get(c, "compute", MP(0x91, 0x02), &v, &found), CK_OK);
    CHECK(!found);
    CHECK_ST(ck_exists(c, "compute", MP(0x91, 0x02), &exists), CK_OK);
    CHECK(!exists);
    lease = NULL;
    CHECK_ST(ck_fill_begin(c, "compute", MP(0x91, 0x02), &v, &lease), CK_OK);
    CHECK(lease != NULL && buf_empty(&v));
    CHECK_ST(ck_lease_complete(lease, MP(0x02), 0), CK_OK);
    CHECK_ST(ck_get(c, "compute", MP(0x91, 0x02), &v, &found), CK_OK);
    CHECK(found && buf_eq(&v, (const uint8_t[]){0x02}, 1));
    ck_buf_free(&v);

    /* Complete with a value that cannot be stored: CK_ENCODE, the lease is
     * consumed, nothing is cached and the next caller gets a lease. */
    CHECK_ST(ck_fill_begin(c, "compute", MP(0x91, 0x05), &v, &lease), CK_OK);
    CHECK(lease != NULL);
    CHECK_ST(ck_lease_complete(lease, MP(0xc1), 0), CK_ENCODE);
    CHECK_ST(ck_exists(c, "compute", MP(0x91, 0x05), &exists), CK_OK);
    CHECK(!exists);
    lease = NULL;
    CHECK_ST(ck_fill_begin(c, "compute", MP(0x91, 0x05), &v, &lease), CK_OK);
    CHECK(lease != NULL && buf_empty(&v));
    /* ...negative TTL: CK_INVALID_ARGUMENT, also consumes the lease. */
    CHECK_ST(ck_lease_complete(lease, MP(0x05), -5), CK_INVALID_ARGUMENT);
    CHECK_ERR_HAS("ttl_ms");
    lease = NULL;
    CHECK_ST(ck_fill_begin(c, "compute", MP(0x91, 0x05), &v, &lease), CK_OK);
    CHECK(lease != NULL);
    /* ...NULL value with a length: CK_INVALID_ARGUMENT, consumes the lease. */
    reset_last_error();
    CHECK_ST(ck_lease_complete(lease, NULL, 3, 0), CK_INVALID_ARGUMENT);
    CHECK_ERR_HAS("value");
    lease = NULL;
    CHECK_ST(ck_fill_begin(c, "compute", MP(0x91, 0x05), &v, &lease), CK_OK);
    CHECK(lease != NULL);
    ck_lease_abort(lease);

    /* Bad keys. */
    lease = (ck_lease *)(uintptr_t)0x1;
    CHECK_ST(ck_fill_begin(c, "bad op", MP(0x90), &v, &lease), CK_INVALID_KEY);
    CHECK_ST(ck_fill_begin(c, "compute", MP(0x01), &v, &lease), CK_ENCODE);
    CHECK(lease == (ck_lease *)(uintptr_t)0x1);

    /* Stampede: 8 threads on one cold key, exactly one computes. */
    {
        pthread_barrier_t barrier;
        pthread_t tids[8];
        pthread_barrier_init(&barrier, NULL, 8);
        memset(g_threads, 0, sizeof g_threads);
        for (int i = 0; i < 8; i++) {
            g_threads[i].cache = c;
            g_threads[i].barrier = &barrier;
            g_threads[i].index = i;
            CHECK(pthread_create(&tids[i], NULL, stampede_thread, &g_threads[i]) == 0);
        }
        for (int i = 0; i < 8; i++) pthread_join(tids[i], NULL);
        pthread_barrier_destroy(&barrier);
        int leases = __atomic_load_n(&g_threads[0].leases, __ATOMIC_SEQ_CST);
        CHECK(leases == 1);
        int holders = 0, same = 0, ok = 0;
        for (int i = 0; i < 8; i++) {
            struct stampede *s = &g_threads[i];
            if (s->st_begin == CK_OK && s->st_complete == CK_OK && s->value_ok) ok++;
            if (s->got_lease) holders++;
            if (s->value_len == sizeof VALUE_STR && memcmp(s->value, VALUE_STR, sizeof VALUE_STR) == 0) same++;
        }
        CHECK(holders == 1);
        CHECK(ok == 8);
        CHECK(same == 8);
    }

    /* A waiter takes over when the holder aborts. */
    {
        ck_lease *holder = NULL;
        struct waiter w = {c, CK_PANIC, false, false, 0};
        pthread_t t;
        CHECK_ST(ck_fill_begin(c, "slow", MP(0x90), &v, &holder), CK_OK);
        CHECK(holder != NULL);
        CHECK(pthread_create(&t, NULL, waiter_thread, &w) == 0);
        sleep_ms(100);
        ck_lease_abort(holder);
        pthread_join(t, NULL);
        CHECK(w.st == CK_OK);
        CHECK(w.got_lease && !w.got_value);
        CHECK(w.waited_ms >= 80);
    }

    /* fill_wait_ms bounds the wait: the waiter computes itself. */
    {
        ck_cache *quick = cache_or_die(cl, ns("fill"), "{\"fill_wait_ms\": 100}");
        ck_lease *holder = NULL;
        struct waiter w = {quick, CK_PANIC, false, false, 0};
        pthread_t t;
        CHECK_ST(ck_fill_begin(quick, "slow", MP(0x90), &v, &holder), CK_OK);
        CHECK(holder != NULL);
        CHECK(pthread_create(&t, NULL, waiter_thread, &w) == 0);
        pthread_join(t, NULL);
        CHECK(w.st == CK_OK);
        CHECK(w.got_lease && !w.got_value);
        CHECK(w.waited_ms >= 90 && w.waited_ms < 5000);
        ck_lease_abort(holder);
        ck_cache_free(quick);
    }

    CHECK_ST(ck_clear(c, NULL), CK_OK);
    ck_cache_free(c);
    ck_client_free(cl);
}

/* ---- health ---------------------------------------------------------------- */

static void test_health(void) {
    g_section = "health";
    ck_client *cl = client_or_die(g_cfg);
    const char *name = ns("health");
    ck_cache *c = cache_or_die(cl, name, NULL);
    ck_cache *e = cache_or_die(cl, ns("health-enc"), "{\"encryption\": true, \"master_key\": \"" KEY1 "\"}");
    ck_buf h = {0};
    char want[200];
    snprintf(want, sizeof want, "\"namespace\":\"%s\"", name);

    CHECK_ST(ck_health(c, &h), CK_OK);
    CHECK(buf_has(&h, want));
    CHECK(h.len > 0 && h.data[0] == '{' && h.data[h.len - 1] == '}');
    CHECK(buf_has(&h, g_redis ? "\"backend\":\"redis\"" : "\"backend\":\"none\""));
    CHECK(buf_has(&h, "\"encryption\":null"));
    ck_buf_free(&h);

    CHECK_ST(ck_check_health(c, &h), CK_OK);
    CHECK(buf_has(&h, want));
    CHECK(buf_has(&h, "\"status\":\"healthy\""));
    CHECK(buf_has(&h, g_redis ? "\"redis_connection\":\"active\"" : "\"redis_connection\":\"none\""));
    ck_buf_free(&h);

    /* An encrypted namespace reports a fingerprint, never the key. */
    CHECK_ST(ck_health(e, &h), CK_OK);
    CHECK(buf_has(&h, "\"key_fingerprint\""));
    CHECK(!buf_has(&h, KEY1));
    ck_buf_free(&h);

    /* Secrets in the config are hidden. */
    if (g_redis) {
        char cfg[600];
        snprintf(cfg, sizeof cfg, "{\"redis_url\": \"redis://user:s3cr3tpw@127.0.0.1:1\", \"master_key\": \"%s\"}", KEY2);
        ck_client *sc = client_or_die(cfg);
        ck_cache *s = cache_or_die(sc, ns("health-secret"), NULL);
        CHECK_ST(ck_health(s, &h), CK_OK);
        CHECK(!buf_has(&h, "s3cr3tpw"));
        CHECK(!buf_has(&h, KEY2));
        ck_buf_free(&h);
        ck_cache_free(s);
        ck_client_free(sc);
    }

    ck_buf sentinel = {(const uint8_t *)"x", 1};
    h = sentinel;
    reset_last_error();
    CHECK_ST(ck_health(NULL, &h), CK_INVALID_ARGUMENT);
    CHECK_ERR_HAS("cache");
    reset_last_error();
    CHECK_ST(ck_health(c, NULL), CK_INVALID_ARGUMENT);
    CHECK_ERR_HAS("out_json");
    reset_last_error();
    CHECK_ST(ck_check_health(NULL, &h), CK_INVALID_ARGUMENT);
    CHECK_ERR_HAS("cache");
    reset_last_error();
    CHECK_ST(ck_check_health(c, NULL), CK_INVALID_ARGUMENT);
    CHECK_ERR_HAS("out_json");
    CHECK(h.data == sentinel.data && h.len == 1);

    ck_cache_free(e);
    ck_cache_free(c);
    ck_client_free(cl);
}

/* ---- NULL for every required pointer --------------------------------------- */

/* Expect CK_INVALID_ARGUMENT and a fresh message naming the parameter. */
#define NULL_CASE(call, param)                                                   \
    do {                                                                         \
        reset_last_error();                                                      \
        CHECK_ST(call, CK_INVALID_ARGUMENT);                                     \
        CHECK(strstr(ck_last_error(), RESET_MSG_PART) == NULL);                  \
        CHECK_ERR_HAS(param);                                                    \
    } while (0)

static void test_nulls(void) {
    g_section = "nulls";
    ck_client *cl = client_or_die(g_cfg);
    ck_cache *c = cache_or_die(cl, ns("nulls"), NULL);
    ck_cache *oc = NULL;
    ck_buf b = {(const uint8_t *)"x", 1};
    bool flag = true;
    int64_t ttl = 12345;
    ck_lease *lease = (ck_lease *)(uintptr_t)0x1;

    NULL_CASE(ck_client_new(NULL, NULL), "out_client");

    NULL_CASE(ck_cache_new(NULL, "n", NULL, &oc), "client");
    NULL_CASE(ck_cache_new(cl, NULL, NULL, &oc), "namespace");
    NULL_CASE(ck_cache_new(cl, "n", NULL, NULL), "out_cache");

    NULL_CASE(ck_make_key(NULL, "op", MP(0x90), &b), "cache");
    NULL_CASE(ck_make_key(c, NULL, MP(0x90), &b), "operation");
    NULL_CASE(ck_make_key(c, "op", NULL, 1, &b), "args");
    NULL_CASE(ck_make_key(c, "op", MP(0x90), NULL), "out_key");

    NULL_CASE(ck_get(NULL, "op", MP(0x90), &b, &flag), "cache");
    NULL_CASE(ck_get(c, NULL, MP(0x90), &b, &flag), "operation");
    NULL_CASE(ck_get(c, "op", NULL, 1, &b, &flag), "args");
    NULL_CASE(ck_get(c, "op", MP(0x90), NULL, &flag), "out_value");
    NULL_CASE(ck_get(c, "op", MP(0x90), &b, NULL), "out_found");

    NULL_CASE(ck_set(NULL, "op", MP(0x90), MP(0x01), 0), "cache");
    NULL_CASE(ck_set(c, NULL, MP(0x90), MP(0x01), 0), "operation");
    NULL_CASE(ck_set(c, "op", NULL, 1, MP(0x01), 0), "args");
    NULL_CASE(ck_set(c, "op", MP(0x90), NULL, 1, 0), "value");

    NULL_CASE(ck_delete(NULL, "op", MP(0x90), &flag), "cache");
    NULL_CASE(ck_delete(c, NULL, MP(0x90), &flag), "operation");
    NULL_CASE(ck_delete(c, "op", NULL, 1, &flag), "args");

    NULL_CASE(ck_exists(NULL, "op", MP(0x90), &flag), "cache");
    NULL_CASE(ck_exists(c, NULL, MP(0x90), &flag), "operation");
    NULL_CASE(ck_exists(c, "op", NULL, 1, &flag), "args");
    NULL_CASE(ck_exists(c, "op", MP(0x90), NULL), "out_exists");

    NULL_CASE(ck_ttl(NULL, "op", MP(0x90), &ttl), "cache");
    NULL_CASE(ck_ttl(c, NULL, MP(0x90), &ttl), "operation");
    NULL_CASE(ck_ttl(c, "op", NULL, 1, &ttl), "args");
    NULL_CASE(ck_ttl(c, "op", MP(0x90), NULL), "out_ttl_ms");

    NULL_CASE(ck_clear(NULL, NULL), "cache");

    NULL_CASE(ck_fill_begin(NULL, "op", MP(0x90), &b, &lease), "cache");
    NULL_CASE(ck_fill_begin(c, NULL, MP(0x90), &b, &lease), "operation");
    NULL_CASE(ck_fill_begin(c, "op", NULL, 1, &b, &lease), "args");
    NULL_CASE(ck_fill_begin(c, "op", MP(0x90), NULL, &lease), "out_value");
    NULL_CASE(ck_fill_begin(c, "op", MP(0x90), &b, NULL), "out_lease");

    NULL_CASE(ck_lease_complete(NULL, MP(0x01), 0), "lease");

    NULL_CASE(ck_health(NULL, &b), "cache");
    NULL_CASE(ck_health(c, NULL), "out_json");
    NULL_CASE(ck_check_health(NULL, &b), "cache");
    NULL_CASE(ck_check_health(c, NULL), "out_json");

    /* Out-params untouched by all of the above. */
    CHECK(oc == NULL);
    CHECK(b.data != NULL && b.len == 1 && b.data[0] == 'x');
    CHECK(flag == true);
    CHECK(ttl == 12345);
    CHECK(lease == (ck_lease *)(uintptr_t)0x1);
    /* Nothing was stored by the failed calls. */
    bool exists = true;
    CHECK_ST(ck_exists(c, "op", MP(0x90), &exists), CK_OK);
    CHECK(!exists);

    ck_cache_free(c);
    ck_client_free(cl);
}

/* ---- encryption --------------------------------------------------------------- */

static void test_encryption(void) {
    g_section = "encryption";
    ck_client *cl = client_or_die(g_cfg);
    const char *name = ns("secret");
    ck_cache *c1 = cache_or_die(cl, name, "{\"encryption\": true, \"master_key\": \"" KEY1 "\"}");
    ck_buf v = {0};
    bool found = false;
    int64_t ttl = 0;

    CHECK_ST(ck_clear(c1, NULL), CK_OK);
    CHECK_ST(ck_set(c1, "get", MP(0x91, 0x01), VALUE_MAP, sizeof VALUE_MAP, 0), CK_OK);
    CHECK_ST(ck_get(c1, "get", MP(0x91, 0x01), &v, &found), CK_OK);
    CHECK(found && buf_eq(&v, VALUE_MAP, sizeof VALUE_MAP));
    ck_buf_free(&v);
    /* Plaintext L1 variant works as well. */
    {
        ck_cache *p = cache_or_die(cl, ns("secret-pt"),
                                   "{\"encryption\": true, \"l1_plaintext\": true, \"master_key\": \"" KEY1 "\"}");
        CHECK_ST(ck_set(p, "get", MP(0x90), VALUE_STR, sizeof VALUE_STR, 0), CK_OK);
        CHECK_ST(ck_get(p, "get", MP(0x90), &v, &found), CK_OK);
        CHECK(found && buf_eq(&v, VALUE_STR, sizeof VALUE_STR));
        ck_buf_free(&v);
        CHECK_ST(ck_clear(p, NULL), CK_OK);
        ck_cache_free(p);
    }
    /* Fill works through encryption. */
    {
        ck_lease *lease = NULL;
        CHECK_ST(ck_fill_begin(c1, "fill", MP(0x90), &v, &lease), CK_OK);
        CHECK(lease != NULL);
        CHECK_ST(ck_lease_complete(lease, VALUE_STR, sizeof VALUE_STR, 0), CK_OK);
        CHECK_ST(ck_fill_begin(c1, "fill", MP(0x90), &v, &lease), CK_OK);
        CHECK(lease == NULL && buf_eq(&v, VALUE_STR, sizeof VALUE_STR));
        ck_buf_free(&v);
    }

    if (g_redis) {
        /* L1 is per handle: read L2 through handles without L1. */
        ck_cache *same = cache_or_die(cl, name, "{\"l1_enabled\": false, \"encryption\": true, \"master_key\": \"" KEY1 "\"}");
        ck_cache *rot = cache_or_die(cl, name, "{\"l1_enabled\": false, \"encryption\": true, \"master_key\": \"" KEY2
                                               "\", \"decrypt_only_keys\": [\"" KEY1 "\"]}");
        ck_cache *other = cache_or_die(cl, name, "{\"l1_enabled\": false, \"encryption\": true, \"master_key\": \"" KEY2 "\"}");
        CHECK_ST(ck_get(same, "get", MP(0x91, 0x01), &v, &found), CK_OK);
        CHECK(found && buf_eq(&v, VALUE_MAP, sizeof VALUE_MAP));
        ck_buf_free(&v);
        CHECK_ST(ck_ttl(same, "get", MP(0x91, 0x01), &ttl), CK_OK);
        CHECK(ttl > 0);
        /* Key rotation: the old key still decrypts. */
        CHECK_ST(ck_get(rot, "get", MP(0x91, 0x01), &v, &found), CK_OK);
        CHECK(found && buf_eq(&v, VALUE_MAP, sizeof VALUE_MAP));
        ck_buf_free(&v);
        /* Another master key: a miss, not an error, not the value. */
        found = true;
        v.data = NULL;
        v.len = 0;
        CHECK_ST(ck_get(other, "get", MP(0x91, 0x01), &v, &found), CK_OK);
        CHECK(!found);
        CHECK(buf_empty(&v));
        ck_buf_free(&v);
        /* The other key's own value round-trips. */
        CHECK_ST(ck_set(other, "own", MP(0x90), MP(0x07), 0), CK_OK);
        CHECK_ST(ck_get(other, "own", MP(0x90), &v, &found), CK_OK);
        CHECK(found && buf_eq(&v, (const uint8_t[]){0x07}, 1));
        ck_buf_free(&v);
        /* An unencrypted reader of the namespace sees no plaintext. */
        {
            ck_cache *plain = cache_or_die(cl, name, "{\"l1_enabled\": false}");
            CHECK_ST(ck_set(c1, "get2", MP(0x90), VALUE_MAP, sizeof VALUE_MAP, 0), CK_OK);
            found = true;
            CHECK_ST(ck_get(plain, "get2", MP(0x90), &v, &found), CK_OK);
            CHECK(!found);
            ck_buf_free(&v);
            ck_cache_free(plain);
        }
        CHECK_ST(ck_clear(c1, NULL), CK_OK);
        ck_cache_free(same);
        ck_cache_free(rot);
        ck_cache_free(other);
    }
    ck_cache_free(c1);
    ck_client_free(cl);
}

/* ---- checks that need an L2 ---------------------------------------------------- */

static void test_l2_only(void) {
    g_section = "l2";
    ck_client *a = client_or_die(g_cfg);
    char cfg_b[1200];
    snprintf(cfg_b, sizeof cfg_b, "{\"redis_url\": \"%s\", \"l1_enabled\": false, \"key_prefix\": null, \"tenant_id\": null}",
             g_redis_url);
    ck_client *b = client_or_die(cfg_b);
    const char *name = ns("shared");
    ck_cache *ca = cache_or_die(a, name, NULL);
    ck_cache *cb = cache_or_die(b, name, NULL);
    ck_buf v = {0}, h = {0};
    bool found = false, exists = false, existed = false;
    int64_t ttl = 0;
    uint64_t deleted = 0;

    CHECK_ST(ck_health(cb, &h), CK_OK);
    CHECK(buf_has(&h, "\"l1_enabled\":false"));
    ck_buf_free(&h);

    CHECK_ST(ck_clear(ca, NULL), CK_OK);
    CHECK_ST(ck_set(ca, "get", MP(0x91, 0x01), VALUE_MAP, sizeof VALUE_MAP, 45000), CK_OK);
    CHECK_ST(ck_get(cb, "get", MP(0x91, 0x01), &v, &found), CK_OK);
    CHECK(found && buf_eq(&v, VALUE_MAP, sizeof VALUE_MAP));
    ck_buf_free(&v);
    CHECK_ST(ck_exists(cb, "get", MP(0x91, 0x01), &exists), CK_OK);
    CHECK(exists);
    CHECK_ST(ck_ttl(cb, "get", MP(0x91, 0x01), &ttl), CK_OK);
    CHECK(ttl > 40000 && ttl <= 45000);
    {
        ck_lease *lease = (ck_lease *)(uintptr_t)0x1;
        CHECK_ST(ck_fill_begin(cb, "get", MP(0x91, 0x01), &v, &lease), CK_OK);
        CHECK(lease == NULL && buf_eq(&v, VALUE_MAP, sizeof VALUE_MAP));
        ck_buf_free(&v);
    }
    /* B writes, A (no L1 copy of that key) reads. */
    CHECK_ST(ck_set(cb, "get", MP(0x91, 0x02), VALUE_STR, sizeof VALUE_STR, 0), CK_OK);
    CHECK_ST(ck_get(ca, "get", MP(0x91, 0x02), &v, &found), CK_OK);
    CHECK(found && buf_eq(&v, VALUE_STR, sizeof VALUE_STR));
    ck_buf_free(&v);
    /* Fill in A stores in L2 for B. */
    {
        ck_lease *lease = NULL;
        CHECK_ST(ck_fill_begin(ca, "fill", MP(0x90), &v, &lease), CK_OK);
        CHECK(lease != NULL);
        CHECK_ST(ck_lease_complete(lease, MP(0x09), 0), CK_OK);
        CHECK_ST(ck_get(cb, "fill", MP(0x90), &v, &found), CK_OK);
        CHECK(found && buf_eq(&v, (const uint8_t[]){0x09}, 1));
        ck_buf_free(&v);
    }
    /* B deletes from L2. */
    CHECK_ST(ck_delete(cb, "get", MP(0x91, 0x01), &existed), CK_OK);
    CHECK(existed);
    CHECK_ST(ck_exists(cb, "get", MP(0x91, 0x01), &exists), CK_OK);
    CHECK(!exists);
    /* Clear counts L2 keys. */
    CHECK_ST(ck_clear(cb, &deleted), CK_OK);
    CHECK(deleted == 2); /* get[2], fill[] */

    /* Interop entries are shared the same way. */
    {
        ck_cache *ia = cache_or_die(a, ns("ishared"), "{\"format\": \"interop\"}");
        ck_cache *ib = cache_or_die(b, ns("ishared"), "{\"format\": \"interop\"}");
        ck_cache *eb = cache_or_die(b, ns("ishared"), NULL);
        CHECK_ST(ck_set(ia, "get", MP(0x90), VALUE_MAP, sizeof VALUE_MAP, 0), CK_OK);
        CHECK_ST(ck_get(ib, "get", MP(0x90), &v, &found), CK_OK);
        CHECK(found && buf_eq(&v, VALUE_MAP, sizeof VALUE_MAP));
        ck_buf_free(&v);
        /* The envelope reader of the same namespace uses another key. */
        CHECK_ST(ck_get(eb, "get", MP(0x90), &v, &found), CK_OK);
        CHECK(!found);
        CHECK_ST(ck_clear(ia, NULL), CK_OK);
        ck_cache_free(ia);
        ck_cache_free(ib);
        ck_cache_free(eb);
    }

    /* Tenants: the same namespace in two tenants does not share entries. */
    {
        char cfg_t[1200];
        snprintf(cfg_t, sizeof cfg_t, "{\"redis_url\": \"%s\", \"l1_enabled\": false, \"tenant_id\": \"acme\"}", g_redis_url);
        ck_client *t = client_or_die(cfg_t);
        ck_cache *ct = cache_or_die(t, name, NULL);
        CHECK_ST(ck_set(ca, "tenant", MP(0x90), MP(0x01), 0), CK_OK);
        CHECK_ST(ck_get(ct, "tenant", MP(0x90), &v, &found), CK_OK);
        CHECK(!found);
        CHECK_ST(ck_make_key(ct, "tenant", MP(0x90), &v), CK_OK);
        CHECK(v.len > 9 && memcmp(v.data, "t:acme:", 7) == 0);
        ck_buf_free(&v);
        CHECK_ST(ck_clear(ca, NULL), CK_OK);
        ck_cache_free(ct);
        ck_client_free(t);
    }

    ck_cache_free(ca);
    ck_cache_free(cb);
    ck_client_free(a);
    ck_client_free(b);
}

/* A Redis URL nobody listens on: fail-open misses, fail-closed errors. */
static void test_dead_backend(void) {
    g_section = "dead_backend";
    ck_client *cl = client_or_die("{\"redis_url\": \"redis://127.0.0.1:1\", \"socket_timeout\": 0.3, "
                                  "\"socket_connect_timeout\": 0.3, \"connection_pool_size\": 1}");
    ck_cache *open = cache_or_die(cl, ns("dead"), "{\"l1_enabled\": false}");
    ck_cache *closed = cache_or_die(cl, ns("dead"), "{\"l1_enabled\": false, \"fail_closed\": true}");
    ck_cache *withl1 = cache_or_die(cl, ns("dead"), NULL);
    ck_buf v = {0};
    bool found = true, exists = true;
    int64_t ttl = 0;

    long long t0 = now_ms();
    CHECK_ST(ck_set(open, "op", MP(0x90), MP(0x01), 0), CK_OK);
    CHECK_ST(ck_get(open, "op", MP(0x90), &v, &found), CK_OK);
    CHECK(!found);
    CHECK_ST(ck_exists(open, "op", MP(0x90), &exists), CK_OK);
    CHECK(!exists);
    CHECK_ST(ck_ttl(open, "op", MP(0x90), &ttl), CK_OK);
    CHECK(ttl == -2);
    CHECK_ST(ck_delete(open, "op", MP(0x90), NULL), CK_OK);
    CHECK_ST(ck_clear(open, NULL), CK_OK);
    CHECK(now_ms() - t0 < 15000);

    /* L1 still serves. */
    CHECK_ST(ck_set(withl1, "op", MP(0x90), MP(0x05), 0), CK_OK);
    CHECK_ST(ck_get(withl1, "op", MP(0x90), &v, &found), CK_OK);
    CHECK(found && buf_eq(&v, (const uint8_t[]){0x05}, 1));
    ck_buf_free(&v);

    CHECK_ST(ck_get(closed, "op", MP(0x90), &v, &found), CK_BACKEND);
    CHECK_ST(ck_set(closed, "op", MP(0x90), MP(0x01), 0), CK_BACKEND);
    CHECK_ST(ck_exists(closed, "op", MP(0x90), &exists), CK_BACKEND);
    {
        ck_lease *lease = (ck_lease *)(uintptr_t)0x1;
        CHECK_ST(ck_fill_begin(closed, "op", MP(0x90), &v, &lease), CK_BACKEND);
        CHECK(lease == (ck_lease *)(uintptr_t)0x1);
    }

    ck_buf h = {0};
    CHECK_ST(ck_check_health(open, &h), CK_OK);
    CHECK(buf_has(&h, "\"status\":\"unhealthy\""));
    CHECK(buf_has(&h, "\"redis_connection\":\"failed\""));
    ck_buf_free(&h);

    ck_cache_free(open);
    ck_cache_free(closed);
    ck_cache_free(withl1);
    ck_client_free(cl);
}

/* ---- driver ------------------------------------------------------------------- */

static void run_suite(const char *pass, const char *redis_url) {
    g_pass = pass;
    g_redis = redis_url != NULL;
    if (redis_url)
        snprintf(g_cfg, sizeof g_cfg,
                 "{\"redis_url\": \"%s\", \"key_prefix\": null, \"tenant_id\": null, \"master_key\": null, "
                 "\"l1_enabled\": true}",
                 redis_url);
    else
        snprintf(g_cfg, sizeof g_cfg,
                 "{\"redis_url\": null, \"key_prefix\": null, \"tenant_id\": null, \"master_key\": null, "
                 "\"l1_enabled\": true}");
    int before_checks = g_checks, before_failed = g_failed;
    test_basics();
    test_client_new();
    test_cache_new();
    test_make_key();
    test_ops();
    test_interop();
    test_fill();
    test_health();
    test_nulls();
    test_encryption();
    if (redis_url)
        test_l2_only();
    else
        test_dead_backend(); /* needs no server: once is enough */
    printf("pass %s: %d checks, %d failed\n", pass, g_checks - before_checks, g_failed - before_failed);
    fflush(stdout);
}

int main(int argc, char **argv) {
    bool l1_only = false;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--l1-only") == 0) {
            l1_only = true;
        } else {
            fprintf(stderr, "usage: %s [--l1-only]\n", argv[0]);
            return 2;
        }
    }
    printf("cachekit %s, ABI %u\n", ck_version(), ck_abi_version());

    const char *url = getenv("CACHEKIT_TEST_REDIS_URL");
    if (url != NULL && url[0] == '\0') url = NULL;
    if (url != NULL && strlen(url) > 500) {
        fprintf(stderr, "CACHEKIT_TEST_REDIS_URL is too long\n");
        return 2;
    }
    g_redis_url = url;

    run_suite("l1", NULL);
    if (url != NULL) {
        run_suite("redis", url);
    } else if (!l1_only) {
        g_pass = "redis";
        g_section = "setup";
        fprintf(stderr,
                "FAIL: CACHEKIT_TEST_REDIS_URL is not set, so the Redis (L2) half of the suite did not run.\n"
                "      Set it to a throwaway server (e.g. redis://127.0.0.1:6399) or pass --l1-only to\n"
                "      run the L1-only half on purpose.\n");
        CHECK(!"CACHEKIT_TEST_REDIS_URL is set (or --l1-only given)");
    } else {
        printf("--l1-only: the Redis half of the suite was skipped on request\n");
    }

    printf("%d passed, %d failed\n", g_checks - g_failed, g_failed);
    return g_failed == 0 ? 0 : 1;
}
