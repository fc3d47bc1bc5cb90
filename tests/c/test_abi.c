/*
 * C-level tests of the cachekit ABI (include/cachekit.h).
 *
 * One function per behaviour, named as the sentence it pins; the table at
 * the end (TESTS) runs them, once against an L1-only client and, when
 * CACHEKIT_TEST_REDIS_URL is set, a second time against that Redis. Some
 * behaviours only make sense with an L2 (cross-client reads, encryption
 * with another master key) and run in the Redis pass only; the dead-backend
 * ones need no server and run in the L1 pass only.
 *
 * Without CACHEKIT_TEST_REDIS_URL the program fails unless run with
 * --l1-only, so a CI run can never silently skip the Redis part.
 *
 * Usage: test_abi [--l1-only] [NAME...]: with names, only the tests whose
 * name contains one of them run.
 *
 * Prints "ok" or "FAILED" per test and pass, then "N passed, M failed"
 * (tests) on the last line; exits non-zero on failure.
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
static const char *g_pass = "-"; /* "l1" or "redis": which suite pass runs */
static const char *g_test = "-"; /* the test function being run */

static bool check_impl(bool ok, int line, const char *expr) {
    g_checks++;
    if (!ok) {
        g_failed++;
        fprintf(stderr, "FAIL [%s/%s] line %d: %s\n", g_pass, g_test, line, expr);
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
                g_pass, g_test, line, expr, status_name(got), status_name(want),
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
        fprintf(stderr, "FATAL [%s/%s]: ck_client_new(%s) = %s: %s\n", g_pass, g_test,
                cfg ? cfg : "NULL", status_name(st), ck_last_error());
        exit(2);
    }
    return c;
}

static ck_cache *cache_or_die(const ck_client *cl, const char *name, const char *opts) {
    ck_cache *c = NULL;
    ck_status st = ck_cache_new(cl, name, opts, &c);
    if (st != CK_OK || c == NULL) {
        fprintf(stderr, "FATAL [%s/%s]: ck_cache_new(%s, %s) = %s: %s\n", g_pass, g_test, name,
                opts ? opts : "NULL", status_name(st), ck_last_error());
        exit(2);
    }
    return c;
}

/* A client of the pass's config and one cache of it, in a namespace of its
 * own (`base` unique per test). */
struct fixture {
    ck_client *cl;
    ck_cache *c;
};

static struct fixture open_fixture(const char *base, const char *opts) {
    struct fixture f;
    f.cl = client_or_die(g_cfg);
    f.c = cache_or_die(f.cl, ns(base), opts);
    return f;
}

static void close_fixture(struct fixture f) {
    ck_cache_free(f.c);
    ck_client_free(f.cl);
}

/* {"a": 1, "b": [true, nil]} */
static const uint8_t VALUE_MAP[] = {0x82, 0xa1, 'a', 0x01, 0xa1, 'b', 0x92, 0xc3, 0xc0};
/* "computed" */
static const uint8_t VALUE_STR[] = {0xa8, 'c', 'o', 'm', 'p', 'u', 't', 'e', 'd'};

#define KEY1 "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
#define KEY2 "fedcba9876543210fedcba9876543210fedcba9876543210fedcba9876543210"

/* ---- versions, the last error, buffers ----------------------------------- */

static void the_abi_version_is_the_one_of_the_header(void) {
    CHECK(ck_abi_version() == CK_ABI_VERSION);
    CHECK(ck_abi_version() == 1);
}

static void the_version_is_a_static_dotted_string(void) {
    const char *v = ck_version();
    CHECK(v != NULL && v[0] != '\0');
    CHECK(v != NULL && strchr(v, '.') != NULL);
    CHECK(v == ck_version()); /* static */
}

static void *empty_error_thread(void *arg) {
    const char *m = ck_last_error();
    *(int *)arg = (m != NULL && m[0] == '\0') ? 1 : 0;
    return NULL;
}

static void the_last_error_is_per_thread_so_a_fresh_thread_has_none(void) {
    reset_last_error();
    CHECK(ck_last_error() != NULL && strstr(ck_last_error(), RESET_MSG_PART) != NULL);
    int empty = 0;
    pthread_t t;
    CHECK(pthread_create(&t, NULL, empty_error_thread, &empty) == 0);
    pthread_join(t, NULL);
    CHECK(empty == 1);
}

static void a_successful_call_does_not_clear_the_last_error(void) {
    reset_last_error();
    CHECK(ck_abi_version() == 1);
    CHECK(strstr(ck_last_error(), RESET_MSG_PART) != NULL);
}

static void freeing_an_empty_buffer_twice_or_null_is_harmless(void) {
    ck_buf b = {NULL, 0};
    ck_buf_free(&b);
    CHECK(buf_empty(&b));
    ck_buf_free(&b);
    CHECK(buf_empty(&b));
    ck_buf_free(NULL);
}

static void a_library_buffer_is_emptied_when_freed_and_freeing_it_again_is_harmless(void) {
    ck_buf b = {NULL, 0};
    ck_client *cl = client_or_die(g_cfg);
    ck_cache *c = cache_or_die(cl, ns("basics"), NULL);
    CHECK_ST(ck_make_key(c, "op", MP(0x90), &b), CK_OK);
    CHECK(b.data != NULL && b.len > 0);
    ck_buf_free(&b);
    CHECK(buf_empty(&b));
    ck_buf_free(&b);
    CHECK(buf_empty(&b));
    ck_cache_free(c);
    ck_client_free(cl);
}

static void freeing_a_null_client_cache_or_lease_is_harmless(void) {
    ck_client_free(NULL);
    ck_cache_free(NULL);
    ck_lease_abort(NULL);
    CHECK(1); /* reached: no crash */
}

/* ---- ck_client_new ------------------------------------------------------- */

static bool env_has(const char *name) {
    const char *v = getenv(name);
    return v != NULL && v[0] != '\0';
}

static void a_null_config_lets_the_environment_choose_the_backend(void) {
    ck_client *cl = NULL;
    ck_buf h = {0};
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
        ck_cache_free(c);
        ck_client_free(cl);
    }
}

static void a_client_of_a_null_config_stores_and_returns_values(void) {
    /* Works as a cache whatever the environment says (L1 at least). */
    ck_client *cl = client_or_die(NULL);
    ck_cache *c = cache_or_die(cl, ns("nullcfg-store"), NULL);
    bool found = false;
    ck_buf v = {0};
    CHECK_ST(ck_set(c, "op", MP(0x90), VALUE_MAP, sizeof VALUE_MAP, 0), CK_OK);
    CHECK_ST(ck_get(c, "op", MP(0x90), &v, &found), CK_OK);
    CHECK(found && buf_eq(&v, VALUE_MAP, sizeof VALUE_MAP));
    ck_buf_free(&v);
    ck_cache_free(c);
    ck_client_free(cl);
}

static void an_empty_config_is_the_same_as_null(void) {
    ck_client *cl = NULL;
    CHECK_ST(ck_client_new("", &cl), CK_OK);
    CHECK(cl != NULL);
    ck_client_free(cl);
}

static void explicit_settings_override_the_environment(void) {
    /* redis_url null => L1-only; the settings show in the health. */
    ck_client *cl = NULL;
    ck_buf h = {0};
    CHECK_ST(ck_client_new("{\"redis_url\": null, \"default_ttl\": 77, \"l1_max_size_mb\": 8}", &cl), CK_OK);
    CHECK(cl != NULL);
    if (cl) {
        ck_cache *c = cache_or_die(cl, ns("explicit"), NULL);
        CHECK_ST(ck_health(c, &h), CK_OK);
        CHECK(buf_has(&h, "\"backend\":\"none\""));
        CHECK(buf_has(&h, "\"default_ttl\":77"));
        CHECK(buf_has(&h, "\"l1_max_size_mb\":8"));
        ck_buf_free(&h);
        ck_cache_free(c);
        ck_client_free(cl);
    }
}

static void the_client_default_ttl_applies_to_caches_without_a_ttl(void) {
    ck_client *cl = client_or_die("{\"redis_url\": null, \"default_ttl\": 77, \"l1_max_size_mb\": 8}");
    ck_cache *c = cache_or_die(cl, ns("explicit-ttl"), NULL);
    int64_t ttl = 0;
    CHECK_ST(ck_set(c, "op", MP(0x90), MP(0x01), 0), CK_OK);
    CHECK_ST(ck_ttl(c, "op", MP(0x90), &ttl), CK_OK);
    CHECK(ttl > 70000 && ttl <= 77000);
    ck_cache_free(c);
    ck_client_free(cl);
}

static void the_client_key_prefix_starts_every_key(void) {
    ck_client *cl = client_or_die("{\"redis_url\": null, \"key_prefix\": \"app1:\", \"tenant_id\": null}");
    ck_cache *c = cache_or_die(cl, "users", NULL);
    ck_buf k = {0};
    CHECK_ST(ck_make_key(c, "get_all", MP(0x90), &k), CK_OK);
    const char *want = "app1:users:get_all:8064bf5f945dba521b017bb3f32b31a293a6e16944838d171ea9e77fab085e8e:e1";
    CHECK(buf_eq(&k, (const uint8_t *)want, strlen(want)));
    ck_buf_free(&k);
    ck_cache_free(c);
    ck_client_free(cl);
}

/* An interop key is exactly the protocol's: a key prefix or tenant scope is
 * refused at ck_cache_new (CK_CONFIG naming the setting), never applied. */
static void an_interop_namespace_under_a_key_prefix_or_tenant_is_ck_config(void) {
    const char *cfgs[2] = {"{\"redis_url\": null, \"key_prefix\": \"app1:\", \"tenant_id\": null}",
                           "{\"redis_url\": null, \"key_prefix\": null, \"tenant_id\": \"acme\"}"};
    const char *names[2] = {"CACHEKIT_KEY_PREFIX", "CACHEKIT_TENANT_ID"};
    for (int i = 0; i < 2; i++) {
        ck_client *cl = client_or_die(cfgs[i]);
        ck_cache *sentinel = (ck_cache *)(uintptr_t)0x1, *c = sentinel;
        CHECK_ST(ck_cache_new(cl, "users", "{\"format\": \"interop\"}", &c), CK_CONFIG);
        CHECK(c == sentinel);
        CHECK(ck_last_error() != NULL && strstr(ck_last_error(), names[i]) != NULL);
        ck_client_free(cl);
    }
}

/* Bad configs are CK_CONFIG and leave the out-param untouched. */
static void a_config_that_is_not_a_json_object_is_ck_config(void) {
    ck_client *sentinel = (ck_client *)(uintptr_t)0x1;
    ck_client *cl = sentinel;
    CHECK_ST(ck_client_new("{not json", &cl), CK_CONFIG);
    CHECK(cl == sentinel);
    CHECK_ST(ck_client_new("[1, 2]", &cl), CK_CONFIG);
    CHECK(cl == sentinel);
}

static void an_unknown_setting_is_ck_config_naming_it(void) {
    ck_client *sentinel = (ck_client *)(uintptr_t)0x1;
    ck_client *cl = sentinel;
    CHECK_ST(ck_client_new("{\"no_such_setting\": 1}", &cl), CK_CONFIG);
    CHECK_ERR_HAS("no_such_setting");
    CHECK(cl == sentinel);
}

static void a_setting_with_a_bad_value_is_ck_config_naming_it(void) {
    ck_client *sentinel = (ck_client *)(uintptr_t)0x1;
    ck_client *cl = sentinel;
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
}

static void a_config_that_is_not_utf8_is_ck_invalid_argument(void) {
    ck_client *sentinel = (ck_client *)(uintptr_t)0x1;
    ck_client *cl = sentinel;
    CHECK_ST(ck_client_new("{\"key_prefix\": \"\xff\xfe\"}", &cl), CK_INVALID_ARGUMENT);
    CHECK_ERR_HAS("UTF-8");
    CHECK(cl == sentinel);
}

static void ck_client_new_without_an_out_pointer_is_ck_invalid_argument(void) {
    reset_last_error();
    CHECK_ST(ck_client_new(NULL, NULL), CK_INVALID_ARGUMENT);
    CHECK_ERR_HAS("out_client");
    CHECK_ST(ck_client_new("{\"default_ttl\": 5}", NULL), CK_INVALID_ARGUMENT);
}

/* ---- ck_cache_new -------------------------------------------------------- */

static void a_valid_namespace_makes_a_cache_with_or_without_options(void) {
    ck_client *cl = client_or_die(g_cfg);
    ck_cache *c = NULL;
    CHECK_ST(ck_cache_new(cl, ns("valid"), NULL, &c), CK_OK);
    CHECK(c != NULL);
    ck_cache_free(c);
    c = NULL;
    CHECK_ST(ck_cache_new(cl, ns("valid"), "{}", &c), CK_OK);
    ck_cache_free(c);
    ck_client_free(cl);
}

static void an_envelope_namespace_accepts_upper_case_and_colons(void) {
    /* e.g. "user_data:v1", with every option spelled out. */
    ck_client *cl = client_or_die(g_cfg);
    ck_cache *c = NULL;
    CHECK_ST(ck_cache_new(cl, "User_Data:v1", "{\"ttl\": 60, \"format\": \"envelope\", \"serializer\": \"msgpack\", "
                                              "\"l1_enabled\": true, \"l1_plaintext\": false, \"fail_closed\": false, "
                                              "\"fill_wait_ms\": 500, \"tenant_id\": null}",
                             &c),
             CK_OK);
    ck_cache_free(c);
    ck_client_free(cl);
}

static void an_interop_namespace_in_lower_case_is_accepted(void) {
    ck_client *cl = client_or_die(g_cfg);
    ck_cache *c = NULL;
    CHECK_ST(ck_cache_new(cl, "users", "{\"format\": \"interop\"}", &c), CK_OK);
    ck_cache_free(c);
    ck_client_free(cl);
}

static void a_namespace_breaking_the_segment_rules_is_ck_invalid_key(void) {
    ck_client *cl = client_or_die(g_cfg);
    ck_cache *sentinel = (ck_cache *)(uintptr_t)0x1;
    ck_cache *c = sentinel;
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
    ck_client_free(cl);
}

static void a_namespace_or_options_not_utf8_is_ck_invalid_argument(void) {
    ck_client *cl = client_or_die(g_cfg);
    ck_cache *sentinel = (ck_cache *)(uintptr_t)0x1;
    ck_cache *c = sentinel;
    CHECK_ST(ck_cache_new(cl, "\xff\xfe", NULL, &c), CK_INVALID_ARGUMENT);
    CHECK_ERR_HAS("UTF-8");
    CHECK_ST(ck_cache_new(cl, ns("x"), "{\"format\": \"\xff\"}", &c), CK_INVALID_ARGUMENT);
    CHECK(c == sentinel);
    ck_client_free(cl);
}

static void an_unknown_option_is_ck_config_naming_it(void) {
    ck_client *cl = client_or_die(g_cfg);
    ck_cache *sentinel = (ck_cache *)(uintptr_t)0x1;
    ck_cache *c = sentinel;
    CHECK_ST(ck_cache_new(cl, ns("x"), "{\"bogus_option\": 1}", &c), CK_CONFIG);
    CHECK_ERR_HAS("bogus_option");
    CHECK(c == sentinel);
    ck_client_free(cl);
}

static void an_option_with_a_bad_value_is_ck_config(void) {
    ck_client *cl = client_or_die(g_cfg);
    ck_cache *sentinel = (ck_cache *)(uintptr_t)0x1;
    ck_cache *c = sentinel;
    CHECK_ST(ck_cache_new(cl, ns("x"), "{\"ttl\": 0}", &c), CK_CONFIG);
    CHECK_ERR_HAS("ttl");
    CHECK_ST(ck_cache_new(cl, ns("x"), "{\"format\": \"xml\"}", &c), CK_CONFIG);
    CHECK_ST(ck_cache_new(cl, ns("x"), "{\"encryption\": \"yes\"}", &c), CK_CONFIG);
    CHECK_ST(ck_cache_new(cl, "users", "{\"format\": \"interop\", \"serializer\": \"pickle\"}", &c), CK_CONFIG);
    CHECK(c == sentinel);
    ck_client_free(cl);
}

static void options_that_are_not_a_json_object_are_ck_config(void) {
    ck_client *cl = client_or_die(g_cfg);
    ck_cache *sentinel = (ck_cache *)(uintptr_t)0x1;
    ck_cache *c = sentinel;
    CHECK_ST(ck_cache_new(cl, ns("x"), "not json", &c), CK_CONFIG);
    CHECK_ST(ck_cache_new(cl, ns("x"), "[]", &c), CK_CONFIG);
    CHECK(c == sentinel);
    ck_client_free(cl);
}

/* The pass config sets master_key null, so the environment cannot provide
 * one. */
static void encryption_without_a_master_key_is_ck_encryption(void) {
    ck_client *cl = client_or_die(g_cfg);
    ck_cache *sentinel = (ck_cache *)(uintptr_t)0x1;
    ck_cache *c = sentinel;
    CHECK_ST(ck_cache_new(cl, ns("enc"), "{\"encryption\": true}", &c), CK_ENCRYPTION);
    CHECK_ERR_HAS("master");
    CHECK(c == sentinel);
    ck_client_free(cl);
}

static void a_master_key_that_is_not_32_hex_bytes_is_ck_encryption(void) {
    ck_client *cl = client_or_die(g_cfg);
    ck_cache *sentinel = (ck_cache *)(uintptr_t)0x1;
    ck_cache *c = sentinel;
    CHECK_ST(ck_cache_new(cl, ns("enc"), "{\"encryption\": true, \"master_key\": \"nothex\"}", &c), CK_ENCRYPTION);
    CHECK_ST(ck_cache_new(cl, ns("enc"), "{\"encryption\": true, \"master_key\": \"0123\"}", &c), CK_ENCRYPTION);
    CHECK_ST(ck_cache_new(cl, ns("enc"),
                          "{\"encryption\": true, \"master_key\": \"" KEY1 "\", \"decrypt_only_keys\": [\"zz\"]}", &c),
             CK_ENCRYPTION);
    CHECK(c == sentinel);
    ck_client_free(cl);
}

static void a_valid_master_key_makes_an_encrypted_cache(void) {
    ck_client *cl = client_or_die(g_cfg);
    ck_cache *c = NULL;
    CHECK_ST(ck_cache_new(cl, ns("enc"), "{\"encryption\": true, \"master_key\": \"" KEY1 "\"}", &c), CK_OK);
    CHECK(c != NULL);
    ck_cache_free(c);
    ck_client_free(cl);
}

static void a_master_key_in_the_client_config_serves_encrypted_namespaces(void) {
    ck_client *kc = client_or_die("{\"redis_url\": null, \"master_key\": \"" KEY2 "\"}");
    ck_cache *c = NULL;
    CHECK_ST(ck_cache_new(kc, ns("enc"), "{\"encryption\": true}", &c), CK_OK);
    ck_cache_free(c);
    ck_client_free(kc);
}

static void ck_cache_new_names_each_missing_pointer(void) {
    ck_client *cl = client_or_die(g_cfg);
    ck_cache *sentinel = (ck_cache *)(uintptr_t)0x1;
    ck_cache *c = sentinel;
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
    ck_client_free(cl);
}

static void a_cache_outlives_its_client(void) {
    ck_client *cl = client_or_die(g_cfg);
    ck_cache *c = cache_or_die(cl, ns("outlive"), NULL);
    ck_client_free(cl);
    bool found = false;
    ck_buf v = {0};
    CHECK_ST(ck_set(c, "op", MP(0x91, 0x05), VALUE_MAP, sizeof VALUE_MAP, 0), CK_OK);
    CHECK_ST(ck_get(c, "op", MP(0x91, 0x05), &v, &found), CK_OK);
    CHECK(found && buf_eq(&v, VALUE_MAP, sizeof VALUE_MAP));
    ck_buf_free(&v);
    bool existed = false;
    CHECK_ST(ck_delete(c, "op", MP(0x91, 0x05), &existed), CK_OK);
    CHECK(existed);
    ck_cache_free(c);
}

/* ---- ck_make_key ---------------------------------------------------------- */

/* A neutral client (no prefix, no tenant, whatever the environment says)
 * with the namespace "users" in both formats. */
struct keys {
    ck_client *cl;
    ck_cache *ic; /* interop */
    ck_cache *ec; /* envelope */
};

static struct keys open_keys(void) {
    struct keys k;
    k.cl = client_or_die("{\"redis_url\": null, \"key_prefix\": null, \"tenant_id\": null}");
    k.ic = cache_or_die(k.cl, "users", "{\"format\": \"interop\"}");
    k.ec = cache_or_die(k.cl, "users", NULL);
    return k;
}

static void close_keys(struct keys k) {
    ck_cache_free(k.ic);
    ck_cache_free(k.ec);
    ck_client_free(k.cl);
}

static void the_interop_key_is_the_protocol_vector(void) {
    struct keys f = open_keys();
    ck_cache *ic = f.ic;
    ck_buf k = {0};
    const char *want = "users:get_all:8064bf5f945dba521b017bb3f32b31a293a6e16944838d171ea9e77fab085e8e";
    CHECK_ST(ck_make_key(ic, "get_all", MP(0x90), &k), CK_OK);
    CHECK(buf_eq(&k, (const uint8_t *)want, strlen(want)));
    ck_buf_free(&k);
    close_keys(f);
}

static void the_envelope_key_is_the_protocol_key_with_an_e1_suffix(void) {
    struct keys f = open_keys();
    ck_cache *ec = f.ec;
    ck_buf k = {0};
    const char *want = "users:get_all:8064bf5f945dba521b017bb3f32b31a293a6e16944838d171ea9e77fab085e8e";
    CHECK_ST(ck_make_key(ec, "get_all", MP(0x90), &k), CK_OK);
    CHECK(k.len == strlen(want) + 3);
    CHECK(k.len > 3 && memcmp(k.data + k.len - 3, ":e1", 3) == 0);
    CHECK(k.len > strlen(want) && memcmp(k.data, want, strlen(want)) == 0);
    ck_buf_free(&k);
    close_keys(f);
}

static void one_as_fixint_uint16_or_float64_gives_one_key(void) {
    struct keys f = open_keys();
    ck_cache *ec = f.ec;
    ck_buf k = {0}, k2 = {0};
    CHECK_ST(ck_make_key(ec, "op", MP(0x91, 0x01), &k), CK_OK);
    CHECK_ST(ck_make_key(ec, "op", MP(0x91, 0xcd, 0x00, 0x01), &k2), CK_OK);
    CHECK(k.len == k2.len && k.data && k2.data && memcmp(k.data, k2.data, k.len) == 0);
    ck_buf_free(&k2);
    CHECK_ST(ck_make_key(ec, "op", MP(0x91, 0xcb, 0x3f, 0xf0, 0, 0, 0, 0, 0, 0), &k2), CK_OK);
    CHECK(k.len == k2.len && k.data && k2.data && memcmp(k.data, k2.data, k.len) == 0);
    ck_buf_free(&k2);
    ck_buf_free(&k);
    close_keys(f);
}

static void another_argument_gives_another_key(void) {
    struct keys f = open_keys();
    ck_cache *ec = f.ec;
    ck_buf k = {0}, k2 = {0};
    CHECK_ST(ck_make_key(ec, "op", MP(0x91, 0x01), &k), CK_OK);
    CHECK_ST(ck_make_key(ec, "op", MP(0x91, 0x02), &k2), CK_OK);
    CHECK(k.len == k2.len && k.data && k2.data && memcmp(k.data, k2.data, k.len) != 0);
    ck_buf_free(&k2);
    ck_buf_free(&k);
    close_keys(f);
}

static void the_operation_is_part_of_the_key(void) {
    struct keys f = open_keys();
    ck_cache *ec = f.ec;
    ck_buf k = {0}, k2 = {0};
    CHECK_ST(ck_make_key(ec, "op", MP(0x91, 0x01), &k), CK_OK);
    CHECK_ST(ck_make_key(ec, "op2", MP(0x91, 0x01), &k2), CK_OK);
    CHECK(!(k.len == k2.len && memcmp(k.data, k2.data, k.len) == 0));
    ck_buf_free(&k2);
    ck_buf_free(&k);
    close_keys(f);
}

/* Errors leave the out buffer untouched. */
static void arguments_that_are_not_an_array_are_ck_encode(void) {
    struct keys f = open_keys();
    ck_cache *ic = f.ic, *ec = f.ec;
    ck_buf sentinel = {(const uint8_t *)"x", 1};
    ck_buf k = sentinel;
    CHECK_ST(ck_make_key(ec, "op", MP(0x01), &k), CK_ENCODE);            /* not an array */
    CHECK_ST(ck_make_key(ic, "op", MP(0x81, 0xa1, 'a', 0x01), &k), CK_ENCODE); /* a map */
    CHECK(k.data == sentinel.data && k.len == 1);
    close_keys(f);
}

static void a_nan_or_infinite_argument_is_ck_encode(void) {
    struct keys f = open_keys();
    ck_cache *ic = f.ic, *ec = f.ec;
    ck_buf sentinel = {(const uint8_t *)"x", 1};
    ck_buf k = sentinel;
    CHECK_ST(ck_make_key(ec, "op", MP(0x91, 0xcb, 0x7f, 0xf8, 0, 0, 0, 0, 0, 0), &k), CK_ENCODE); /* NaN */
    CHECK_ST(ck_make_key(ic, "op", MP(0x91, 0xcb, 0x7f, 0xf8, 0, 0, 0, 0, 0, 0), &k), CK_ENCODE);
    CHECK_ST(ck_make_key(ec, "op", MP(0x91, 0xcb, 0x7f, 0xf0, 0, 0, 0, 0, 0, 0), &k), CK_ENCODE); /* +inf */
    CHECK(k.data == sentinel.data && k.len == 1);
    close_keys(f);
}

static void arguments_that_are_not_one_msgpack_document_are_ck_encode(void) {
    struct keys f = open_keys();
    ck_cache *ec = f.ec;
    ck_buf sentinel = {(const uint8_t *)"x", 1};
    ck_buf k = sentinel;
    CHECK_ST(ck_make_key(ec, "op", MP(0x92, 0x01), &k), CK_ENCODE);      /* truncated */
    CHECK_ST(ck_make_key(ec, "op", MP(0x90, 0x90), &k), CK_ENCODE);      /* trailing bytes */
    CHECK_ST(ck_make_key(ec, "op", MP(0x91, 0xc1), &k), CK_ENCODE);      /* never-used byte */
    CHECK_ST(ck_make_key(ec, "op", NULL, 0, &k), CK_ENCODE);             /* empty input */
    CHECK(k.data == sentinel.data && k.len == 1);
    close_keys(f);
}

static void an_operation_breaking_the_segment_rules_is_ck_invalid_key(void) {
    struct keys f = open_keys();
    ck_cache *ic = f.ic, *ec = f.ec;
    ck_buf sentinel = {(const uint8_t *)"x", 1};
    ck_buf k = sentinel;
    CHECK_ST(ck_make_key(ec, "bad op", MP(0x90), &k), CK_INVALID_KEY);
    CHECK_ST(ck_make_key(ec, "a:b", MP(0x90), &k), CK_INVALID_KEY);
    CHECK_ST(ck_make_key(ic, "GetAll", MP(0x90), &k), CK_INVALID_KEY);
    CHECK_ST(ck_make_key(ec, "", MP(0x90), &k), CK_INVALID_KEY);
    CHECK(k.data == sentinel.data && k.len == 1);
    close_keys(f);
}

static void an_operation_not_utf8_is_ck_invalid_argument(void) {
    struct keys f = open_keys();
    ck_cache *ec = f.ec;
    ck_buf sentinel = {(const uint8_t *)"x", 1};
    ck_buf k = sentinel;
    CHECK_ST(ck_make_key(ec, "\xc3\x28", MP(0x90), &k), CK_INVALID_ARGUMENT); /* not UTF-8 */
    CHECK(k.data == sentinel.data && k.len == 1);
    close_keys(f);
}

static void ck_make_key_names_each_missing_pointer(void) {
    struct keys f = open_keys();
    ck_cache *ec = f.ec;
    ck_buf sentinel = {(const uint8_t *)"x", 1};
    ck_buf k = sentinel;
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
    close_keys(f);
}

static void an_args_length_beyond_isize_is_ck_invalid_argument(void) {
    struct keys f = open_keys();
    ck_cache *ec = f.ec;
    ck_buf k = {0};
    CHECK_ST(ck_make_key(ec, "op", (const uint8_t *)"\x90", SIZE_MAX, &k), CK_INVALID_ARGUMENT);
    close_keys(f);
}

/* ---- set / get / exists / ttl / delete / clear ---------------------------- */

/* Each test has a namespace of its own with a 120 s TTL. */
#define OPS_OPTS "{\"ttl\": 120}"

static void a_cold_key_is_a_miss_without_a_value_or_ttl(void) {
    struct fixture f = open_fixture("ops-cold", OPS_OPTS);
    ck_cache *c = f.c;
    ck_buf v = {0};
    bool found = true, exists = true;
    int64_t ttl = 0;
    CHECK_ST(ck_clear(c, NULL), CK_OK);
    CHECK_ST(ck_get(c, "get", MP(0x91, 0x01), &v, &found), CK_OK);
    CHECK(!found);
    CHECK(buf_empty(&v));
    CHECK_ST(ck_exists(c, "get", MP(0x91, 0x01), &exists), CK_OK);
    CHECK(!exists);
    CHECK_ST(ck_ttl(c, "get", MP(0x91, 0x01), &ttl), CK_OK);
    CHECK(ttl == -2);
    close_fixture(f);
}

static void a_miss_then_a_hit_returns_the_stored_value(void) {
    struct fixture f = open_fixture("ops-hit", OPS_OPTS);
    ck_cache *c = f.c;
    ck_buf v = {0};
    bool found = true;
    CHECK_ST(ck_get(c, "get", MP(0x91, 0x01), &v, &found), CK_OK);
    CHECK(!found);
    /* Stored with the namespace TTL (ttl_ms 0). */
    CHECK_ST(ck_set(c, "get", MP(0x91, 0x01), VALUE_MAP, sizeof VALUE_MAP, 0), CK_OK);
    CHECK_ST(ck_get(c, "get", MP(0x91, 0x01), &v, &found), CK_OK);
    CHECK(found);
    CHECK(buf_eq(&v, VALUE_MAP, sizeof VALUE_MAP));
    ck_buf_free(&v);
    close_fixture(f);
}

static void the_same_arguments_encoded_differently_hit_the_same_entry(void) {
    struct fixture f = open_fixture("ops-encoding", OPS_OPTS);
    ck_cache *c = f.c;
    ck_buf v = {0};
    bool found = false;
    CHECK_ST(ck_set(c, "get", MP(0x91, 0x01), VALUE_MAP, sizeof VALUE_MAP, 0), CK_OK);
    CHECK_ST(ck_get(c, "get", MP(0x91, 0xcd, 0x00, 0x01), &v, &found), CK_OK);
    CHECK(found && buf_eq(&v, VALUE_MAP, sizeof VALUE_MAP));
    ck_buf_free(&v);
    close_fixture(f);
}

static void other_arguments_or_another_operation_miss(void) {
    struct fixture f = open_fixture("ops-other", OPS_OPTS);
    ck_cache *c = f.c;
    ck_buf v = {0};
    bool found = true;
    CHECK_ST(ck_set(c, "get", MP(0x91, 0x01), VALUE_MAP, sizeof VALUE_MAP, 0), CK_OK);
    CHECK_ST(ck_get(c, "get", MP(0x91, 0x02), &v, &found), CK_OK);
    CHECK(!found && buf_empty(&v));
    found = true;
    CHECK_ST(ck_get(c, "other", MP(0x91, 0x01), &v, &found), CK_OK);
    CHECK(!found && buf_empty(&v));
    close_fixture(f);
}

static void exists_is_true_for_a_stored_entry_only(void) {
    struct fixture f = open_fixture("ops-exists", OPS_OPTS);
    ck_cache *c = f.c;
    bool exists = true;
    CHECK_ST(ck_set(c, "get", MP(0x91, 0x01), VALUE_MAP, sizeof VALUE_MAP, 0), CK_OK);
    CHECK_ST(ck_exists(c, "get", MP(0x91, 0x01), &exists), CK_OK);
    CHECK(exists);
    CHECK_ST(ck_exists(c, "get", MP(0x91, 0x02), &exists), CK_OK);
    CHECK(!exists);
    close_fixture(f);
}

static void an_entry_set_without_a_ttl_has_the_namespace_ttl(void) {
    struct fixture f = open_fixture("ops-ttl", OPS_OPTS);
    ck_cache *c = f.c;
    int64_t ttl = 0;
    CHECK_ST(ck_set(c, "get", MP(0x91, 0x01), VALUE_MAP, sizeof VALUE_MAP, 0), CK_OK);
    CHECK_ST(ck_ttl(c, "get", MP(0x91, 0x01), &ttl), CK_OK);
    CHECK(ttl > 110000 && ttl <= 120000);
    CHECK_ST(ck_ttl(c, "get", MP(0x91, 0x02), &ttl), CK_OK);
    CHECK(ttl == -2);
    close_fixture(f);
}

static void an_overwrite_with_an_explicit_ttl_replaces_the_value_and_the_ttl(void) {
    struct fixture f = open_fixture("ops-overwrite", OPS_OPTS);
    ck_cache *c = f.c;
    ck_buf v = {0};
    bool found = false;
    int64_t ttl = 0;
    CHECK_ST(ck_set(c, "get", MP(0x91, 0x01), VALUE_MAP, sizeof VALUE_MAP, 0), CK_OK);
    CHECK_ST(ck_set(c, "get", MP(0x91, 0x01), VALUE_STR, sizeof VALUE_STR, 30000), CK_OK);
    CHECK_ST(ck_get(c, "get", MP(0x91, 0x01), &v, &found), CK_OK);
    CHECK(found && buf_eq(&v, VALUE_STR, sizeof VALUE_STR));
    ck_buf_free(&v);
    CHECK_ST(ck_ttl(c, "get", MP(0x91, 0x01), &ttl), CK_OK);
    CHECK(ttl > 25000 && ttl <= 30000);
    close_fixture(f);
}

static void scalars_and_nil_are_values_too(void) {
    struct fixture f = open_fixture("ops-scalar", OPS_OPTS);
    ck_cache *c = f.c;
    ck_buf v = {0};
    bool found = false;
    CHECK_ST(ck_set(c, "scalar", MP(0x90), MP(0xc0), 0), CK_OK);
    CHECK_ST(ck_get(c, "scalar", MP(0x90), &v, &found), CK_OK);
    CHECK(found && buf_eq(&v, (const uint8_t[]){0xc0}, 1));
    ck_buf_free(&v);
    close_fixture(f);
}

static void delete_removes_the_entry_and_says_whether_it_existed(void) {
    struct fixture f = open_fixture("ops-delete", OPS_OPTS);
    ck_cache *c = f.c;
    ck_buf v = {0};
    bool found = true, exists = true, existed = false;
    int64_t ttl = 0;
    CHECK_ST(ck_set(c, "get", MP(0x91, 0x01), VALUE_STR, sizeof VALUE_STR, 30000), CK_OK);
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
    close_fixture(f);
}

static void delete_takes_a_null_out_existed(void) {
    struct fixture f = open_fixture("ops-delete-null", OPS_OPTS);
    ck_cache *c = f.c;
    bool exists = true;
    CHECK_ST(ck_set(c, "scalar", MP(0x90), MP(0xc0), 0), CK_OK);
    CHECK_ST(ck_delete(c, "scalar", MP(0x90), NULL), CK_OK); /* out_existed may be NULL */
    CHECK_ST(ck_exists(c, "scalar", MP(0x90), &exists), CK_OK);
    CHECK(!exists);
    close_fixture(f);
}

static void an_entry_expires_after_its_ttl(void) {
    struct fixture f = open_fixture("ops-expiry", OPS_OPTS);
    ck_cache *c = f.c;
    ck_buf v = {0};
    bool found = false, exists = true;
    int64_t ttl = 0;
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
    close_fixture(f);
}

static void a_value_that_is_not_one_msgpack_document_is_ck_encode(void) {
    struct fixture f = open_fixture("ops-bad-value", OPS_OPTS);
    ck_cache *c = f.c;
    bool exists = true;
    CHECK_ST(ck_set(c, "bad", MP(0x90), MP(0xc1), 0), CK_ENCODE);
    CHECK_ERR_HAS("MessagePack");
    CHECK_ST(ck_set(c, "bad", MP(0x90), MP(0x01, 0x02), 0), CK_ENCODE); /* two documents */
    CHECK_ST(ck_set(c, "bad", MP(0x90), MP(0x92, 0x01), 0), CK_ENCODE); /* truncated */
    CHECK_ST(ck_set(c, "bad", MP(0x90), NULL, 0, 0), CK_ENCODE);        /* empty */
    CHECK_ST(ck_exists(c, "bad", MP(0x90), &exists), CK_OK);
    CHECK(!exists);
    close_fixture(f);
}

static void a_failed_set_does_not_leave_the_older_value_visible(void) {
    struct fixture f = open_fixture("ops-replace", OPS_OPTS);
    ck_cache *c = f.c;
    ck_buf v = {0};
    bool found = true;
    CHECK_ST(ck_set(c, "replace", MP(0x90), MP(0x01), 0), CK_OK);
    CHECK_ST(ck_set(c, "replace", MP(0x90), MP(0xc1), 0), CK_ENCODE);
    found = true;
    CHECK_ST(ck_get(c, "replace", MP(0x90), &v, &found), CK_OK);
    if (!CHECK(!found))
        fprintf(stderr, "      the previous value is still returned after a failed ck_set\n");
    ck_buf_free(&v);
    CHECK_ST(ck_delete(c, "replace", MP(0x90), NULL), CK_OK);
    close_fixture(f);
}

static void a_negative_ttl_is_ck_invalid_argument_and_stores_nothing(void) {
    struct fixture f = open_fixture("ops-neg-ttl", OPS_OPTS);
    ck_cache *c = f.c;
    bool exists = true;
    CHECK_ST(ck_set(c, "neg", MP(0x90), MP(0x01), -1), CK_INVALID_ARGUMENT);
    CHECK_ERR_HAS("ttl_ms");
    CHECK_ST(ck_exists(c, "neg", MP(0x90), &exists), CK_OK);
    CHECK(!exists);
    close_fixture(f);
}

static void every_keyed_call_refuses_bad_arguments_with_ck_encode(void) {
    struct fixture f = open_fixture("ops-bad-args", OPS_OPTS);
    ck_cache *c = f.c;
    ck_buf v = {0};
    bool found = true, exists = true;
    int64_t ttl = 0;
    CHECK_ST(ck_get(c, "get", MP(0x01), &v, &found), CK_ENCODE);
    CHECK_ST(ck_set(c, "get", MP(0x01), MP(0x01), 0), CK_ENCODE);
    CHECK_ST(ck_exists(c, "get", MP(0x91, 0xcb, 0x7f, 0xf8, 0, 0, 0, 0, 0, 0), &exists), CK_ENCODE);
    CHECK_ST(ck_ttl(c, "get", MP(0xc1), &ttl), CK_ENCODE);
    CHECK_ST(ck_delete(c, "get", MP(0x80), NULL), CK_ENCODE);
    close_fixture(f);
}

static void every_keyed_call_refuses_a_bad_operation_with_ck_invalid_key(void) {
    struct fixture f = open_fixture("ops-bad-op", OPS_OPTS);
    ck_cache *c = f.c;
    ck_buf v = {0};
    bool found = true, exists = true;
    int64_t ttl = 0;
    CHECK_ST(ck_get(c, "bad op", MP(0x90), &v, &found), CK_INVALID_KEY);
    CHECK_ST(ck_set(c, "bad op", MP(0x90), MP(0x01), 0), CK_INVALID_KEY);
    CHECK_ST(ck_exists(c, "bad op", MP(0x90), &exists), CK_INVALID_KEY);
    CHECK_ST(ck_ttl(c, "bad op", MP(0x90), &ttl), CK_INVALID_KEY);
    CHECK_ST(ck_delete(c, "bad op", MP(0x90), NULL), CK_INVALID_KEY);
    close_fixture(f);
}

static void get_and_set_refuse_an_operation_not_utf8_with_ck_invalid_argument(void) {
    struct fixture f = open_fixture("ops-op-utf8", OPS_OPTS);
    ck_cache *c = f.c;
    ck_buf v = {0};
    bool found = true;
    CHECK_ST(ck_get(c, "\xff", MP(0x90), &v, &found), CK_INVALID_ARGUMENT);
    CHECK_ST(ck_set(c, "\xff", MP(0x90), MP(0x01), 0), CK_INVALID_ARGUMENT);
    close_fixture(f);
}

static void clear_deletes_every_entry_and_counts_the_redis_keys(void) {
    struct fixture f = open_fixture("ops-clear", OPS_OPTS);
    ck_cache *c = f.c;
    ck_buf v = {0};
    bool found = true, exists = true;
    uint64_t deleted = 99;
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
    close_fixture(f);
}

/* Including one whose name extends it ("x" and "x:v1"). */
static void clearing_a_namespace_leaves_the_others_alone(void) {
    struct fixture f = open_fixture("ops-scope", OPS_OPTS);
    ck_client *cl = f.cl;
    ck_cache *c = f.c;
    ck_buf v = {0};
    bool found = false;
    uint64_t deleted = 0;
    char child[128];
    snprintf(child, sizeof child, "%s:v1", ns("ops-scope"));
    ck_cache *other = cache_or_die(cl, ns("ops-scope-other"), NULL);
    /* Without L1 on the extended namespace, so that its L2 entry is what
     * is read back when there is an L2. */
    ck_cache *sub = cache_or_die(cl, child, g_redis ? "{\"l1_enabled\": false}" : NULL);
    ck_cache *same = cache_or_die(cl, ns("ops-scope"), NULL);
    CHECK_ST(ck_set(other, "a", MP(0x90), MP(0x01), 0), CK_OK);
    CHECK_ST(ck_set(sub, "a", MP(0x90), MP(0x02), 0), CK_OK);
    CHECK_ST(ck_set(same, "a", MP(0x90), MP(0x03), 0), CK_OK);
    CHECK_ST(ck_clear(c, &deleted), CK_OK);
    CHECK_ST(ck_get(other, "a", MP(0x90), &v, &found), CK_OK);
    CHECK(found && buf_eq(&v, (const uint8_t[]){0x01}, 1));
    ck_buf_free(&v);
    CHECK_ST(ck_get(sub, "a", MP(0x90), &v, &found), CK_OK);
    if (!CHECK(found && buf_eq(&v, (const uint8_t[]){0x02}, 1)))
        fprintf(stderr, "      ck_clear(\"%s\") deleted an entry of namespace \"%s\"\n", ns("ops-scope"), child);
    ck_buf_free(&v);
    CHECK_ST(ck_clear(other, NULL), CK_OK);
    CHECK_ST(ck_clear(sub, NULL), CK_OK);
    ck_cache_free(other);
    ck_cache_free(sub);
    ck_cache_free(same);
    close_fixture(f);
}

/* Redis pass: another handle of the cleared namespace keeps its own L1, but
 * the L2 entry is gone. */
static void clear_deletes_the_redis_entries_another_handle_wrote(void) {
    struct fixture f = open_fixture("ops-clear-l2", OPS_OPTS);
    ck_client *cl = f.cl;
    ck_cache *c = f.c;
    bool exists = true;
    uint64_t deleted = 0;
    ck_cache *same = cache_or_die(cl, ns("ops-clear-l2"), NULL);
    CHECK_ST(ck_set(same, "a", MP(0x90), MP(0x03), 0), CK_OK);
    CHECK_ST(ck_clear(c, &deleted), CK_OK);
    ck_cache *fresh = cache_or_die(cl, ns("ops-clear-l2"), "{\"l1_enabled\": false}");
    CHECK_ST(ck_exists(fresh, "a", MP(0x90), &exists), CK_OK);
    CHECK(!exists);
    ck_cache_free(fresh);
    ck_cache_free(same);
    close_fixture(f);
}

/* ---- the interop format: plain MessagePack values, protocol keys ---------- */

#define INTEROP_OPTS "{\"format\": \"interop\", \"ttl\": 60}"

static void an_interop_cache_round_trips_a_canonical_map(void) {
    struct fixture f = open_fixture("interop-map", INTEROP_OPTS);
    ck_cache *c = f.c;
    ck_buf v = {0};
    bool found = false;
    CHECK_ST(ck_set(c, "get", MP(0x91, 0x07), VALUE_MAP, sizeof VALUE_MAP, 0), CK_OK);
    CHECK_ST(ck_get(c, "get", MP(0x91, 0x07), &v, &found), CK_OK);
    CHECK(found && buf_eq(&v, VALUE_MAP, sizeof VALUE_MAP));
    ck_buf_free(&v);
    CHECK_ST(ck_clear(c, NULL), CK_OK);
    close_fixture(f);
}

static void nan_is_a_valid_interop_value_though_never_a_key(void) {
    struct fixture f = open_fixture("interop-nan", INTEROP_OPTS);
    ck_cache *c = f.c;
    CHECK_ST(ck_set(c, "nan", MP(0x90), MP(0xcb, 0x7f, 0xf8, 0, 0, 0, 0, 0, 0), 0), CK_OK);
    CHECK_ST(ck_clear(c, NULL), CK_OK);
    close_fixture(f);
}

static void an_interop_cache_refuses_values_without_a_canonical_form(void) {
    struct fixture f = open_fixture("interop-refused", INTEROP_OPTS);
    ck_cache *c = f.c;
    /* A timestamp ext is refused as a value (datetimes use sentinel maps). */
    CHECK_ST(ck_set(c, "ts", MP(0x90), MP(0xd6, 0xff, 0, 0, 0, 1), 0), CK_ENCODE);
    /* A map with a non-string key cannot be canonicalised. */
    CHECK_ST(ck_set(c, "intkey", MP(0x90), MP(0x81, 0x01, 0x02), 0), CK_ENCODE);
    CHECK_ST(ck_set(c, "bad", MP(0x90), MP(0xc1), 0), CK_ENCODE);
    close_fixture(f);
}

static void an_interop_cache_refuses_an_upper_case_operation(void) {
    struct fixture f = open_fixture("interop-op", INTEROP_OPTS);
    ck_cache *c = f.c;
    CHECK_ST(ck_set(c, "Bad", MP(0x90), MP(0x01), 0), CK_INVALID_KEY);
    close_fixture(f);
}

/* ---- fill leases ---------------------------------------------------------- */

/* Each test has a namespace of its own with a 90 s TTL, cleared before and
 * after. */
#define FILL_OPTS "{\"ttl\": 90}"

static struct fixture open_fill(const char *base) {
    struct fixture f = open_fixture(base, FILL_OPTS);
    CHECK_ST(ck_clear(f.c, NULL), CK_OK);
    return f;
}

static void close_fill(struct fixture f) {
    CHECK_ST(ck_clear(f.c, NULL), CK_OK);
    close_fixture(f);
}

static void a_cold_fill_gives_a_lease_and_no_value(void) {
    struct fixture f = open_fill("fill-cold");
    ck_cache *c = f.c;
    ck_buf v = {0};
    ck_lease *lease = NULL;
    CHECK_ST(ck_fill_begin(c, "compute", MP(0x91, 0x01), &v, &lease), CK_OK);
    CHECK(lease != NULL);
    CHECK(buf_empty(&v));
    CHECK_ST(ck_lease_complete(lease, VALUE_MAP, sizeof VALUE_MAP, 0), CK_OK);
    close_fill(f);
}

static void ck_flush_waits_for_the_writes_behind_callers(void) {
    struct fixture f = open_fill("fill-flush");
    ck_client *cl = f.cl;
    ck_cache *c = f.c;
    ck_buf v = {0};
    ck_lease *lease = NULL;
    CHECK_ST(ck_fill_begin(c, "compute", MP(0x91, 0x01), &v, &lease), CK_OK);
    CHECK(lease != NULL);
    CHECK_ST(ck_lease_complete(lease, VALUE_MAP, sizeof VALUE_MAP, 0), CK_OK);
    /* The Redis write may still be under way: ck_flush waits for it. */
    uint64_t pending = 99;
    CHECK_ST(ck_flush(NULL, 1000, &pending), CK_INVALID_ARGUMENT);
    CHECK_ST(ck_flush(cl, 1000, &pending), CK_OK);
    CHECK(pending == 0);
    CHECK_ST(ck_flush(cl, 0, NULL), CK_OK);
    close_fill(f);
}

static void a_completed_fill_is_stored_with_the_namespace_ttl(void) {
    struct fixture f = open_fill("fill-stored");
    ck_client *cl = f.cl;
    ck_cache *c = f.c;
    ck_buf v = {0};
    ck_lease *lease = NULL;
    bool found = false;
    int64_t ttl = 0;
    CHECK_ST(ck_fill_begin(c, "compute", MP(0x91, 0x01), &v, &lease), CK_OK);
    CHECK(lease != NULL);
    CHECK_ST(ck_lease_complete(lease, VALUE_MAP, sizeof VALUE_MAP, 0), CK_OK);
    CHECK_ST(ck_flush(cl, 1000, NULL), CK_OK);
    CHECK_ST(ck_get(c, "compute", MP(0x91, 0x01), &v, &found), CK_OK);
    CHECK(found && buf_eq(&v, VALUE_MAP, sizeof VALUE_MAP));
    ck_buf_free(&v);
    CHECK_ST(ck_ttl(c, "compute", MP(0x91, 0x01), &ttl), CK_OK);
    CHECK(ttl > 80000 && ttl <= 90000);
    close_fill(f);
}

static void a_warm_fill_gives_the_value_and_no_lease(void) {
    struct fixture f = open_fill("fill-warm");
    ck_cache *c = f.c;
    ck_buf v = {0};
    ck_lease *lease = NULL;
    CHECK_ST(ck_fill_begin(c, "compute", MP(0x91, 0x01), &v, &lease), CK_OK);
    CHECK(lease != NULL);
    CHECK_ST(ck_lease_complete(lease, VALUE_MAP, sizeof VALUE_MAP, 0), CK_OK);
    lease = (ck_lease *)(uintptr_t)0x1;
    CHECK_ST(ck_fill_begin(c, "compute", MP(0x91, 0x01), &v, &lease), CK_OK);
    CHECK(lease == NULL);
    CHECK(buf_eq(&v, VALUE_MAP, sizeof VALUE_MAP));
    ck_buf_free(&v);
    close_fill(f);
}

static void a_value_stored_with_ck_set_is_a_fill_hit(void) {
    struct fixture f = open_fill("fill-set");
    ck_cache *c = f.c;
    ck_buf v = {0};
    ck_lease *lease = NULL;
    CHECK_ST(ck_set(c, "compute", MP(0x91, 0x03), MP(0x03), 0), CK_OK);
    CHECK_ST(ck_fill_begin(c, "compute", MP(0x91, 0x03), &v, &lease), CK_OK);
    CHECK(lease == NULL && buf_eq(&v, (const uint8_t[]){0x03}, 1));
    ck_buf_free(&v);
    close_fill(f);
}

static void a_completion_with_a_ttl_overrides_the_namespace_ttl(void) {
    struct fixture f = open_fill("fill-ttl");
    ck_cache *c = f.c;
    ck_buf v = {0};
    ck_lease *lease = NULL;
    int64_t ttl = 0;
    CHECK_ST(ck_fill_begin(c, "compute", MP(0x91, 0x04), &v, &lease), CK_OK);
    CHECK(lease != NULL);
    CHECK_ST(ck_lease_complete(lease, MP(0x04), 20000), CK_OK);
    CHECK_ST(ck_ttl(c, "compute", MP(0x91, 0x04), &ttl), CK_OK);
    CHECK(ttl > 15000 && ttl <= 20000);
    close_fill(f);
}

static void an_aborted_fill_caches_nothing_and_the_next_caller_gets_a_lease(void) {
    struct fixture f = open_fill("fill-abort");
    ck_cache *c = f.c;
    ck_buf v = {0};
    ck_lease *lease = NULL;
    bool found = false, exists = true;
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
    close_fill(f);
}

/* A failed completion consumes the lease: nothing is cached and the next
 * caller gets a lease. */
static void completing_with_a_value_that_cannot_be_stored_is_ck_encode(void) {
    struct fixture f = open_fill("fill-bad-value");
    ck_cache *c = f.c;
    ck_buf v = {0};
    ck_lease *lease = NULL;
    bool exists = true;
    CHECK_ST(ck_fill_begin(c, "compute", MP(0x91, 0x05), &v, &lease), CK_OK);
    CHECK(lease != NULL);
    CHECK_ST(ck_lease_complete(lease, MP(0xc1), 0), CK_ENCODE);
    CHECK_ST(ck_exists(c, "compute", MP(0x91, 0x05), &exists), CK_OK);
    CHECK(!exists);
    lease = NULL;
    CHECK_ST(ck_fill_begin(c, "compute", MP(0x91, 0x05), &v, &lease), CK_OK);
    CHECK(lease != NULL && buf_empty(&v));
    ck_lease_abort(lease);
    close_fill(f);
}

static void completing_with_a_negative_ttl_is_ck_invalid_argument(void) {
    struct fixture f = open_fill("fill-neg-ttl");
    ck_cache *c = f.c;
    ck_buf v = {0};
    ck_lease *lease = NULL;
    CHECK_ST(ck_fill_begin(c, "compute", MP(0x91, 0x05), &v, &lease), CK_OK);
    CHECK(lease != NULL && buf_empty(&v));
    CHECK_ST(ck_lease_complete(lease, MP(0x05), -5), CK_INVALID_ARGUMENT);
    CHECK_ERR_HAS("ttl_ms");
    lease = NULL;
    CHECK_ST(ck_fill_begin(c, "compute", MP(0x91, 0x05), &v, &lease), CK_OK);
    CHECK(lease != NULL);
    ck_lease_abort(lease);
    close_fill(f);
}

static void completing_with_a_null_value_and_a_length_is_ck_invalid_argument(void) {
    struct fixture f = open_fill("fill-null-value");
    ck_cache *c = f.c;
    ck_buf v = {0};
    ck_lease *lease = NULL;
    CHECK_ST(ck_fill_begin(c, "compute", MP(0x91, 0x05), &v, &lease), CK_OK);
    CHECK(lease != NULL);
    reset_last_error();
    CHECK_ST(ck_lease_complete(lease, NULL, 3, 0), CK_INVALID_ARGUMENT);
    CHECK_ERR_HAS("value");
    lease = NULL;
    CHECK_ST(ck_fill_begin(c, "compute", MP(0x91, 0x05), &v, &lease), CK_OK);
    CHECK(lease != NULL);
    ck_lease_abort(lease);
    close_fill(f);
}

static void a_fill_of_a_bad_key_is_refused_without_a_lease(void) {
    struct fixture f = open_fill("fill-bad-key");
    ck_cache *c = f.c;
    ck_buf v = {0};
    ck_lease *lease = (ck_lease *)(uintptr_t)0x1;
    CHECK_ST(ck_fill_begin(c, "bad op", MP(0x90), &v, &lease), CK_INVALID_KEY);
    CHECK_ST(ck_fill_begin(c, "compute", MP(0x01), &v, &lease), CK_ENCODE);
    CHECK(lease == (ck_lease *)(uintptr_t)0x1);
    close_fill(f);
}

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

static void eight_threads_on_one_cold_key_compute_once_and_all_get_the_value(void) {
    struct fixture f = open_fill("fill-stampede");
    ck_cache *c = f.c;
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
    close_fill(f);
}

struct waiter {
    ck_cache *cache;
    ck_status st;
    bool got_lease;
    bool got_value;
    long long waited_ms;
    long long returned_at_ms;
};

static void *waiter_thread(void *arg) {
    struct waiter *w = arg;
    ck_buf v = {0};
    ck_lease *lease = NULL;
    long long t0 = now_ms();
    w->st = ck_fill_begin(w->cache, "slow", MP(0x90), &v, &lease);
    w->returned_at_ms = now_ms();
    w->waited_ms = w->returned_at_ms - t0;
    w->got_lease = lease != NULL;
    w->got_value = !buf_empty(&v);
    ck_buf_free(&v);
    if (lease) ck_lease_abort(lease);
    return NULL;
}

/* Polls the namespace's health until it contains `needle` (a handshake:
 * the core says the event happened), at most `deadline_ms`. */
static bool health_reaches(ck_cache *c, const char *needle, long long deadline_ms) {
    long long end = now_ms() + deadline_ms;
    for (;;) {
        ck_buf h = {0};
        bool has = ck_health(c, &h) == CK_OK && buf_has(&h, needle);
        ck_buf_free(&h);
        if (has) return true;
        if (now_ms() > end) return false;
        sleep_ms(2);
    }
}

#define TAKEOVER_WAIT_MS 10000

static void a_waiter_takes_over_when_the_lease_holder_aborts(void) {
    ck_client *cl = client_or_die(g_cfg);
    ck_cache *c = cache_or_die(cl, ns("fill-takeover"), "{\"fill_wait_ms\": 10000}");
    ck_buf v = {0};
    ck_lease *holder = NULL;
    struct waiter w = {c, CK_PANIC, false, false, 0, 0};
    pthread_t t;
    CHECK_ST(ck_clear(c, NULL), CK_OK);
    CHECK_ST(ck_fill_begin(c, "slow", MP(0x90), &v, &holder), CK_OK);
    CHECK(holder != NULL);
    CHECK(pthread_create(&t, NULL, waiter_thread, &w) == 0);
    /* Handshake: abort only once the core counts the waiter as waiting. */
    CHECK(health_reaches(c, "\"fill_waits\":1", TAKEOVER_WAIT_MS));
    long long aborted_at = now_ms();
    ck_lease_abort(holder);
    pthread_join(t, NULL);
    CHECK(w.st == CK_OK);
    CHECK(w.got_lease && !w.got_value);
    /* Woken by the abort, not by fill_wait_ms running out: it returns after
     * the abort and well within half the configured wait, and the core
     * counts no wait timeout. */
    CHECK(w.returned_at_ms >= aborted_at);
    CHECK(w.returned_at_ms - aborted_at < TAKEOVER_WAIT_MS / 2);
    CHECK(health_reaches(c, "\"fill_wait_timeouts\":0", 0));
    CHECK_ST(ck_clear(c, NULL), CK_OK);
    ck_cache_free(c);
    ck_client_free(cl);
}

static void fill_wait_ms_bounds_the_wait_then_the_waiter_computes_itself(void) {
    ck_client *cl = client_or_die(g_cfg);
    ck_cache *quick = cache_or_die(cl, ns("fill-wait"), "{\"fill_wait_ms\": 100}");
    ck_buf v = {0};
    ck_lease *holder = NULL;
    struct waiter w = {quick, CK_PANIC, false, false, 0, 0};
    pthread_t t;
    CHECK_ST(ck_clear(quick, NULL), CK_OK);
    CHECK_ST(ck_fill_begin(quick, "slow", MP(0x90), &v, &holder), CK_OK);
    CHECK(holder != NULL);
    CHECK(pthread_create(&t, NULL, waiter_thread, &w) == 0);
    pthread_join(t, NULL);
    CHECK(w.st == CK_OK);
    CHECK(w.got_lease && !w.got_value);
    CHECK(w.waited_ms >= 90 && w.waited_ms < 5000);
    ck_lease_abort(holder);
    CHECK_ST(ck_clear(quick, NULL), CK_OK);
    ck_cache_free(quick);
    ck_client_free(cl);
}

/* ---- health ---------------------------------------------------------------- */

static void health_is_a_json_object_naming_the_namespace_and_backend(void) {
    ck_client *cl = client_or_die(g_cfg);
    const char *name = ns("health");
    ck_cache *c = cache_or_die(cl, name, NULL);
    ck_buf h = {0};
    char want[200];
    snprintf(want, sizeof want, "\"namespace\":\"%s\"", name);
    CHECK_ST(ck_health(c, &h), CK_OK);
    CHECK(buf_has(&h, want));
    CHECK(h.len > 0 && h.data[0] == '{' && h.data[h.len - 1] == '}');
    CHECK(buf_has(&h, g_redis ? "\"backend\":\"redis\"" : "\"backend\":\"none\""));
    CHECK(buf_has(&h, "\"encryption\":null"));
    ck_buf_free(&h);
    ck_cache_free(c);
    ck_client_free(cl);
}

static void check_health_adds_the_status_of_the_redis_connection(void) {
    ck_client *cl = client_or_die(g_cfg);
    const char *name = ns("health-check");
    ck_cache *c = cache_or_die(cl, name, NULL);
    ck_buf h = {0};
    char want[200];
    snprintf(want, sizeof want, "\"namespace\":\"%s\"", name);
    CHECK_ST(ck_check_health(c, &h), CK_OK);
    CHECK(buf_has(&h, want));
    CHECK(buf_has(&h, "\"status\":\"healthy\""));
    CHECK(buf_has(&h, g_redis ? "\"redis_connection\":\"active\"" : "\"redis_connection\":\"none\""));
    ck_buf_free(&h);
    ck_cache_free(c);
    ck_client_free(cl);
}

static void an_encrypted_namespace_reports_a_key_fingerprint_never_the_key(void) {
    ck_client *cl = client_or_die(g_cfg);
    ck_cache *e = cache_or_die(cl, ns("health-enc"), "{\"encryption\": true, \"master_key\": \"" KEY1 "\"}");
    ck_buf h = {0};
    CHECK_ST(ck_health(e, &h), CK_OK);
    CHECK(buf_has(&h, "\"key_fingerprint\""));
    CHECK(!buf_has(&h, KEY1));
    ck_buf_free(&h);
    ck_cache_free(e);
    ck_client_free(cl);
}

/* Redis pass. */
static void health_hides_the_secrets_of_the_config(void) {
    ck_buf h = {0};
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

static void the_health_calls_name_each_missing_pointer(void) {
    ck_client *cl = client_or_die(g_cfg);
    ck_cache *c = cache_or_die(cl, ns("health-null"), NULL);
    ck_buf sentinel = {(const uint8_t *)"x", 1};
    ck_buf h = sentinel;
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

/* Each test: every required pointer of one call family, and the out-params
 * untouched by the refused calls. */
struct nulls {
    struct fixture f;
    ck_client *cl;
    ck_cache *c;
    ck_cache *oc;
    ck_buf b;
    bool flag;
    int64_t ttl;
    ck_lease *lease;
};

static struct nulls open_nulls(void) {
    struct nulls n;
    n.f = open_fixture("nulls", NULL);
    n.cl = n.f.cl;
    n.c = n.f.c;
    n.oc = NULL;
    n.b = (ck_buf){(const uint8_t *)"x", 1};
    n.flag = true;
    n.ttl = 12345;
    n.lease = (ck_lease *)(uintptr_t)0x1;
    return n;
}

static void ck_client_new_refuses_a_null_out_client_by_name(void) {
    NULL_CASE(ck_client_new(NULL, NULL), "out_client");
}

static void ck_cache_new_refuses_each_null_pointer_by_name(void) {
    struct nulls n = open_nulls();
    ck_client *cl = n.cl;
    ck_cache *oc = n.oc;
    NULL_CASE(ck_cache_new(NULL, "n", NULL, &oc), "client");
    NULL_CASE(ck_cache_new(cl, NULL, NULL, &oc), "namespace");
    NULL_CASE(ck_cache_new(cl, "n", NULL, NULL), "out_cache");
    CHECK(oc == NULL);
    close_fixture(n.f);
}

static void ck_make_key_refuses_each_null_pointer_by_name(void) {
    struct nulls n = open_nulls();
    ck_cache *c = n.c;
    ck_buf b = n.b;
    NULL_CASE(ck_make_key(NULL, "op", MP(0x90), &b), "cache");
    NULL_CASE(ck_make_key(c, NULL, MP(0x90), &b), "operation");
    NULL_CASE(ck_make_key(c, "op", NULL, 1, &b), "args");
    NULL_CASE(ck_make_key(c, "op", MP(0x90), NULL), "out_key");
    CHECK(b.data != NULL && b.len == 1 && b.data[0] == 'x');
    close_fixture(n.f);
}

static void ck_get_refuses_each_null_pointer_by_name(void) {
    struct nulls n = open_nulls();
    ck_cache *c = n.c;
    ck_buf b = n.b;
    bool flag = n.flag;
    NULL_CASE(ck_get(NULL, "op", MP(0x90), &b, &flag), "cache");
    NULL_CASE(ck_get(c, NULL, MP(0x90), &b, &flag), "operation");
    NULL_CASE(ck_get(c, "op", NULL, 1, &b, &flag), "args");
    NULL_CASE(ck_get(c, "op", MP(0x90), NULL, &flag), "out_value");
    NULL_CASE(ck_get(c, "op", MP(0x90), &b, NULL), "out_found");
    CHECK(b.data != NULL && b.len == 1 && b.data[0] == 'x');
    CHECK(flag == true);
    close_fixture(n.f);
}

static void ck_set_refuses_each_null_pointer_by_name_and_stores_nothing(void) {
    struct nulls n = open_nulls();
    ck_cache *c = n.c;
    NULL_CASE(ck_set(NULL, "op", MP(0x90), MP(0x01), 0), "cache");
    NULL_CASE(ck_set(c, NULL, MP(0x90), MP(0x01), 0), "operation");
    NULL_CASE(ck_set(c, "op", NULL, 1, MP(0x01), 0), "args");
    NULL_CASE(ck_set(c, "op", MP(0x90), NULL, 1, 0), "value");
    /* Nothing was stored by the failed calls. */
    bool exists = true;
    CHECK_ST(ck_exists(c, "op", MP(0x90), &exists), CK_OK);
    CHECK(!exists);
    close_fixture(n.f);
}

static void ck_delete_refuses_each_null_pointer_by_name(void) {
    struct nulls n = open_nulls();
    ck_cache *c = n.c;
    bool flag = n.flag;
    NULL_CASE(ck_delete(NULL, "op", MP(0x90), &flag), "cache");
    NULL_CASE(ck_delete(c, NULL, MP(0x90), &flag), "operation");
    NULL_CASE(ck_delete(c, "op", NULL, 1, &flag), "args");
    CHECK(flag == true);
    close_fixture(n.f);
}

static void ck_exists_refuses_each_null_pointer_by_name(void) {
    struct nulls n = open_nulls();
    ck_cache *c = n.c;
    bool flag = n.flag;
    NULL_CASE(ck_exists(NULL, "op", MP(0x90), &flag), "cache");
    NULL_CASE(ck_exists(c, NULL, MP(0x90), &flag), "operation");
    NULL_CASE(ck_exists(c, "op", NULL, 1, &flag), "args");
    NULL_CASE(ck_exists(c, "op", MP(0x90), NULL), "out_exists");
    CHECK(flag == true);
    close_fixture(n.f);
}

static void ck_ttl_refuses_each_null_pointer_by_name(void) {
    struct nulls n = open_nulls();
    ck_cache *c = n.c;
    int64_t ttl = n.ttl;
    NULL_CASE(ck_ttl(NULL, "op", MP(0x90), &ttl), "cache");
    NULL_CASE(ck_ttl(c, NULL, MP(0x90), &ttl), "operation");
    NULL_CASE(ck_ttl(c, "op", NULL, 1, &ttl), "args");
    NULL_CASE(ck_ttl(c, "op", MP(0x90), NULL), "out_ttl_ms");
    CHECK(ttl == 12345);
    close_fixture(n.f);
}

static void ck_clear_refuses_a_null_cache_by_name(void) {
    NULL_CASE(ck_clear(NULL, NULL), "cache");
}

static void ck_fill_begin_refuses_each_null_pointer_by_name(void) {
    struct nulls n = open_nulls();
    ck_cache *c = n.c;
    ck_buf b = n.b;
    ck_lease *lease = n.lease;
    NULL_CASE(ck_fill_begin(NULL, "op", MP(0x90), &b, &lease), "cache");
    NULL_CASE(ck_fill_begin(c, NULL, MP(0x90), &b, &lease), "operation");
    NULL_CASE(ck_fill_begin(c, "op", NULL, 1, &b, &lease), "args");
    NULL_CASE(ck_fill_begin(c, "op", MP(0x90), NULL, &lease), "out_value");
    NULL_CASE(ck_fill_begin(c, "op", MP(0x90), &b, NULL), "out_lease");
    CHECK(b.data != NULL && b.len == 1 && b.data[0] == 'x');
    CHECK(lease == (ck_lease *)(uintptr_t)0x1);
    close_fixture(n.f);
}

static void ck_lease_complete_refuses_a_null_lease_by_name(void) {
    NULL_CASE(ck_lease_complete(NULL, MP(0x01), 0), "lease");
}

static void ck_health_and_ck_check_health_refuse_each_null_pointer_by_name(void) {
    struct nulls n = open_nulls();
    ck_cache *c = n.c;
    ck_buf b = n.b;
    NULL_CASE(ck_health(NULL, &b), "cache");
    NULL_CASE(ck_health(c, NULL), "out_json");
    NULL_CASE(ck_check_health(NULL, &b), "cache");
    NULL_CASE(ck_check_health(c, NULL), "out_json");
    CHECK(b.data != NULL && b.len == 1 && b.data[0] == 'x');
    close_fixture(n.f);
}

/* ---- encryption --------------------------------------------------------------- */

#define ENC_KEY1 "{\"encryption\": true, \"master_key\": \"" KEY1 "\"}"

static void an_encrypted_cache_round_trips_a_value(void) {
    ck_client *cl = client_or_die(g_cfg);
    ck_cache *c1 = cache_or_die(cl, ns("secret"), ENC_KEY1);
    ck_buf v = {0};
    bool found = false;
    CHECK_ST(ck_clear(c1, NULL), CK_OK);
    CHECK_ST(ck_set(c1, "get", MP(0x91, 0x01), VALUE_MAP, sizeof VALUE_MAP, 0), CK_OK);
    CHECK_ST(ck_get(c1, "get", MP(0x91, 0x01), &v, &found), CK_OK);
    CHECK(found && buf_eq(&v, VALUE_MAP, sizeof VALUE_MAP));
    ck_buf_free(&v);
    CHECK_ST(ck_clear(c1, NULL), CK_OK);
    ck_cache_free(c1);
    ck_client_free(cl);
}

static void an_encrypted_cache_with_a_plaintext_l1_round_trips_a_value(void) {
    ck_client *cl = client_or_die(g_cfg);
    ck_cache *p = cache_or_die(cl, ns("secret-pt"),
                               "{\"encryption\": true, \"l1_plaintext\": true, \"master_key\": \"" KEY1 "\"}");
    ck_buf v = {0};
    bool found = false;
    CHECK_ST(ck_set(p, "get", MP(0x90), VALUE_STR, sizeof VALUE_STR, 0), CK_OK);
    CHECK_ST(ck_get(p, "get", MP(0x90), &v, &found), CK_OK);
    CHECK(found && buf_eq(&v, VALUE_STR, sizeof VALUE_STR));
    ck_buf_free(&v);
    CHECK_ST(ck_clear(p, NULL), CK_OK);
    ck_cache_free(p);
    ck_client_free(cl);
}

static void a_fill_works_through_encryption(void) {
    ck_client *cl = client_or_die(g_cfg);
    ck_cache *c1 = cache_or_die(cl, ns("secret-fill"), ENC_KEY1);
    ck_buf v = {0};
    ck_lease *lease = NULL;
    CHECK_ST(ck_fill_begin(c1, "fill", MP(0x90), &v, &lease), CK_OK);
    CHECK(lease != NULL);
    CHECK_ST(ck_lease_complete(lease, VALUE_STR, sizeof VALUE_STR, 0), CK_OK);
    CHECK_ST(ck_fill_begin(c1, "fill", MP(0x90), &v, &lease), CK_OK);
    CHECK(lease == NULL && buf_eq(&v, VALUE_STR, sizeof VALUE_STR));
    ck_buf_free(&v);
    CHECK_ST(ck_clear(c1, NULL), CK_OK);
    ck_cache_free(c1);
    ck_client_free(cl);
}

/* Redis pass: an entry written encrypted with KEY1, then read through
 * handles without L1 (L1 is per handle), so that the L2 copy is read. */
struct secret {
    ck_client *cl;
    ck_cache *c1;
    const char *name;
};

static struct secret open_secret(const char *base) {
    struct secret s;
    s.cl = client_or_die(g_cfg);
    s.name = ns(base);
    s.c1 = cache_or_die(s.cl, s.name, ENC_KEY1);
    CHECK_ST(ck_clear(s.c1, NULL), CK_OK);
    CHECK_ST(ck_set(s.c1, "get", MP(0x91, 0x01), VALUE_MAP, sizeof VALUE_MAP, 0), CK_OK);
    return s;
}

static void close_secret(struct secret s) {
    CHECK_ST(ck_clear(s.c1, NULL), CK_OK);
    ck_cache_free(s.c1);
    ck_client_free(s.cl);
}

static void another_handle_with_the_same_key_reads_the_encrypted_entry_from_redis(void) {
    struct secret s = open_secret("secret-same");
    ck_buf v = {0};
    bool found = false;
    int64_t ttl = 0;
    ck_cache *same = cache_or_die(s.cl, s.name, "{\"l1_enabled\": false, \"encryption\": true, \"master_key\": \"" KEY1 "\"}");
    CHECK_ST(ck_get(same, "get", MP(0x91, 0x01), &v, &found), CK_OK);
    CHECK(found && buf_eq(&v, VALUE_MAP, sizeof VALUE_MAP));
    ck_buf_free(&v);
    CHECK_ST(ck_ttl(same, "get", MP(0x91, 0x01), &ttl), CK_OK);
    CHECK(ttl > 0);
    ck_cache_free(same);
    close_secret(s);
}

static void after_a_key_rotation_the_old_key_still_decrypts(void) {
    struct secret s = open_secret("secret-rot");
    ck_buf v = {0};
    bool found = false;
    ck_cache *rot = cache_or_die(s.cl, s.name, "{\"l1_enabled\": false, \"encryption\": true, \"master_key\": \"" KEY2
                                               "\", \"decrypt_only_keys\": [\"" KEY1 "\"]}");
    CHECK_ST(ck_get(rot, "get", MP(0x91, 0x01), &v, &found), CK_OK);
    CHECK(found && buf_eq(&v, VALUE_MAP, sizeof VALUE_MAP));
    ck_buf_free(&v);
    ck_cache_free(rot);
    close_secret(s);
}

static void another_master_key_reads_a_miss_not_an_error_nor_the_value(void) {
    struct secret s = open_secret("secret-other");
    ck_buf v = {0};
    bool found = true;
    ck_cache *other = cache_or_die(s.cl, s.name, "{\"l1_enabled\": false, \"encryption\": true, \"master_key\": \"" KEY2 "\"}");
    found = true;
    v.data = NULL;
    v.len = 0;
    CHECK_ST(ck_get(other, "get", MP(0x91, 0x01), &v, &found), CK_OK);
    CHECK(!found);
    CHECK(buf_empty(&v));
    ck_buf_free(&v);
    ck_cache_free(other);
    close_secret(s);
}

static void another_master_key_round_trips_its_own_values(void) {
    struct secret s = open_secret("secret-own");
    ck_buf v = {0};
    bool found = false;
    ck_cache *other = cache_or_die(s.cl, s.name, "{\"l1_enabled\": false, \"encryption\": true, \"master_key\": \"" KEY2 "\"}");
    CHECK_ST(ck_set(other, "own", MP(0x90), MP(0x07), 0), CK_OK);
    CHECK_ST(ck_get(other, "own", MP(0x90), &v, &found), CK_OK);
    CHECK(found && buf_eq(&v, (const uint8_t[]){0x07}, 1));
    ck_buf_free(&v);
    ck_cache_free(other);
    close_secret(s);
}

static void an_unencrypted_reader_of_the_namespace_sees_no_plaintext(void) {
    struct secret s = open_secret("secret-plain");
    ck_cache *c1 = s.c1;
    ck_buf v = {0};
    bool found = true;
    ck_cache *plain = cache_or_die(s.cl, s.name, "{\"l1_enabled\": false}");
    CHECK_ST(ck_set(c1, "get2", MP(0x90), VALUE_MAP, sizeof VALUE_MAP, 0), CK_OK);
    found = true;
    CHECK_ST(ck_get(plain, "get2", MP(0x90), &v, &found), CK_OK);
    CHECK(!found);
    ck_buf_free(&v);
    ck_cache_free(plain);
    close_secret(s);
}

/* ---- two clients sharing one Redis (Redis pass) ----------------------------- */

/* Client a has an L1, client b none; both see the namespace `name`. */
struct pair {
    ck_client *a, *b;
    ck_cache *ca, *cb;
    const char *name;
};

static ck_client *client_without_l1(void) {
    char cfg_b[1200];
    snprintf(cfg_b, sizeof cfg_b, "{\"redis_url\": \"%s\", \"l1_enabled\": false, \"key_prefix\": null, \"tenant_id\": null}",
             g_redis_url);
    return client_or_die(cfg_b);
}

static struct pair open_pair(const char *base) {
    struct pair p;
    p.a = client_or_die(g_cfg);
    p.b = client_without_l1();
    p.name = ns(base);
    p.ca = cache_or_die(p.a, p.name, NULL);
    p.cb = cache_or_die(p.b, p.name, NULL);
    CHECK_ST(ck_clear(p.ca, NULL), CK_OK);
    return p;
}

static void close_pair(struct pair p) {
    ck_cache_free(p.ca);
    ck_cache_free(p.cb);
    ck_client_free(p.a);
    ck_client_free(p.b);
}

static void a_client_without_l1_says_so_in_its_health(void) {
    struct pair p = open_pair("shared-health");
    ck_cache *cb = p.cb;
    ck_buf h = {0};
    CHECK_ST(ck_health(cb, &h), CK_OK);
    CHECK(buf_has(&h, "\"l1_enabled\":false"));
    ck_buf_free(&h);
    close_pair(p);
}

static void a_value_set_by_one_client_is_read_by_another(void) {
    struct pair p = open_pair("shared-read");
    ck_cache *ca = p.ca, *cb = p.cb;
    ck_buf v = {0};
    bool found = false;
    CHECK_ST(ck_set(ca, "get", MP(0x91, 0x01), VALUE_MAP, sizeof VALUE_MAP, 45000), CK_OK);
    CHECK_ST(ck_get(cb, "get", MP(0x91, 0x01), &v, &found), CK_OK);
    CHECK(found && buf_eq(&v, VALUE_MAP, sizeof VALUE_MAP));
    ck_buf_free(&v);
    close_pair(p);
}

static void another_client_sees_the_entry_exist_with_its_ttl(void) {
    struct pair p = open_pair("shared-exists");
    ck_cache *ca = p.ca, *cb = p.cb;
    bool exists = false;
    int64_t ttl = 0;
    CHECK_ST(ck_set(ca, "get", MP(0x91, 0x01), VALUE_MAP, sizeof VALUE_MAP, 45000), CK_OK);
    CHECK_ST(ck_exists(cb, "get", MP(0x91, 0x01), &exists), CK_OK);
    CHECK(exists);
    CHECK_ST(ck_ttl(cb, "get", MP(0x91, 0x01), &ttl), CK_OK);
    CHECK(ttl > 40000 && ttl <= 45000);
    close_pair(p);
}

static void another_client_s_fill_is_a_hit_on_that_entry(void) {
    struct pair p = open_pair("shared-fill-hit");
    ck_cache *ca = p.ca, *cb = p.cb;
    ck_buf v = {0};
    CHECK_ST(ck_set(ca, "get", MP(0x91, 0x01), VALUE_MAP, sizeof VALUE_MAP, 45000), CK_OK);
    ck_lease *lease = (ck_lease *)(uintptr_t)0x1;
    CHECK_ST(ck_fill_begin(cb, "get", MP(0x91, 0x01), &v, &lease), CK_OK);
    CHECK(lease == NULL && buf_eq(&v, VALUE_MAP, sizeof VALUE_MAP));
    ck_buf_free(&v);
    close_pair(p);
}

static void a_value_set_by_the_client_without_l1_is_read_by_the_other(void) {
    struct pair p = open_pair("shared-write-b");
    ck_cache *ca = p.ca, *cb = p.cb;
    ck_buf v = {0};
    bool found = false;
    /* B writes, A (no L1 copy of that key) reads. */
    CHECK_ST(ck_set(cb, "get", MP(0x91, 0x02), VALUE_STR, sizeof VALUE_STR, 0), CK_OK);
    CHECK_ST(ck_get(ca, "get", MP(0x91, 0x02), &v, &found), CK_OK);
    CHECK(found && buf_eq(&v, VALUE_STR, sizeof VALUE_STR));
    ck_buf_free(&v);
    close_pair(p);
}

static void a_fill_completed_in_one_client_is_read_by_another(void) {
    struct pair p = open_pair("shared-fill");
    ck_cache *ca = p.ca, *cb = p.cb;
    ck_buf v = {0};
    bool found = false;
    ck_lease *lease = NULL;
    CHECK_ST(ck_fill_begin(ca, "fill", MP(0x90), &v, &lease), CK_OK);
    CHECK(lease != NULL);
    CHECK_ST(ck_lease_complete(lease, MP(0x09), 0), CK_OK);
    CHECK_ST(ck_get(cb, "fill", MP(0x90), &v, &found), CK_OK);
    CHECK(found && buf_eq(&v, (const uint8_t[]){0x09}, 1));
    ck_buf_free(&v);
    close_pair(p);
}

static void a_delete_by_another_client_removes_the_entry_from_redis(void) {
    struct pair p = open_pair("shared-delete");
    ck_cache *ca = p.ca, *cb = p.cb;
    bool exists = false, existed = false;
    CHECK_ST(ck_set(ca, "get", MP(0x91, 0x01), VALUE_MAP, sizeof VALUE_MAP, 45000), CK_OK);
    CHECK_ST(ck_delete(cb, "get", MP(0x91, 0x01), &existed), CK_OK);
    CHECK(existed);
    CHECK_ST(ck_exists(cb, "get", MP(0x91, 0x01), &exists), CK_OK);
    CHECK(!exists);
    close_pair(p);
}

static void clear_counts_the_redis_keys_it_deletes(void) {
    struct pair p = open_pair("shared-clear");
    ck_cache *ca = p.ca, *cb = p.cb;
    ck_buf v = {0};
    bool found = false;
    uint64_t deleted = 0;
    ck_lease *lease = NULL;
    CHECK_ST(ck_set(cb, "get", MP(0x91, 0x02), VALUE_STR, sizeof VALUE_STR, 0), CK_OK);
    CHECK_ST(ck_fill_begin(ca, "fill", MP(0x90), &v, &lease), CK_OK);
    CHECK(lease != NULL);
    CHECK_ST(ck_lease_complete(lease, MP(0x09), 0), CK_OK);
    CHECK_ST(ck_flush(p.a, 1000, NULL), CK_OK);
    CHECK_ST(ck_get(cb, "fill", MP(0x90), &v, &found), CK_OK);
    CHECK(found && buf_eq(&v, (const uint8_t[]){0x09}, 1));
    ck_buf_free(&v);
    CHECK_ST(ck_clear(cb, &deleted), CK_OK);
    CHECK(deleted == 2); /* get[2], fill[] */
    close_pair(p);
}

/* The interop namespace `ishared` in both clients, and the envelope one of
 * the same name in b. */
struct ipair {
    struct pair p;
    ck_cache *ia, *ib, *eb;
};

static struct ipair open_ipair(const char *base) {
    struct ipair q;
    q.p.a = client_or_die(g_cfg);
    q.p.b = client_without_l1();
    q.p.name = ns(base);
    q.ia = cache_or_die(q.p.a, q.p.name, "{\"format\": \"interop\"}");
    q.ib = cache_or_die(q.p.b, q.p.name, "{\"format\": \"interop\"}");
    q.eb = cache_or_die(q.p.b, q.p.name, NULL);
    return q;
}

static void close_ipair(struct ipair q) {
    CHECK_ST(ck_clear(q.ia, NULL), CK_OK);
    ck_cache_free(q.ia);
    ck_cache_free(q.ib);
    ck_cache_free(q.eb);
    ck_client_free(q.p.a);
    ck_client_free(q.p.b);
}

static void interop_entries_are_shared_between_clients(void) {
    struct ipair q = open_ipair("ishared");
    ck_cache *ia = q.ia, *ib = q.ib;
    ck_buf v = {0};
    bool found = false;
    CHECK_ST(ck_set(ia, "get", MP(0x90), VALUE_MAP, sizeof VALUE_MAP, 0), CK_OK);
    CHECK_ST(ck_get(ib, "get", MP(0x90), &v, &found), CK_OK);
    CHECK(found && buf_eq(&v, VALUE_MAP, sizeof VALUE_MAP));
    ck_buf_free(&v);
    close_ipair(q);
}

static void an_envelope_reader_of_an_interop_namespace_uses_another_key(void) {
    struct ipair q = open_ipair("ishared-env");
    ck_cache *ia = q.ia, *eb = q.eb;
    ck_buf v = {0};
    bool found = false;
    CHECK_ST(ck_set(ia, "get", MP(0x90), VALUE_MAP, sizeof VALUE_MAP, 0), CK_OK);
    CHECK_ST(ck_get(eb, "get", MP(0x90), &v, &found), CK_OK);
    CHECK(!found);
    close_ipair(q);
}

static ck_client *client_of_tenant_acme(void) {
    char cfg_t[1200];
    snprintf(cfg_t, sizeof cfg_t, "{\"redis_url\": \"%s\", \"l1_enabled\": false, \"tenant_id\": \"acme\"}", g_redis_url);
    return client_or_die(cfg_t);
}

static void the_same_namespace_in_two_tenants_does_not_share_entries(void) {
    struct pair p = open_pair("shared-tenant");
    ck_cache *ca = p.ca;
    ck_buf v = {0};
    bool found = false;
    ck_client *t = client_of_tenant_acme();
    ck_cache *ct = cache_or_die(t, p.name, NULL);
    CHECK_ST(ck_set(ca, "tenant", MP(0x90), MP(0x01), 0), CK_OK);
    CHECK_ST(ck_get(ct, "tenant", MP(0x90), &v, &found), CK_OK);
    CHECK(!found);
    CHECK_ST(ck_clear(ca, NULL), CK_OK);
    ck_cache_free(ct);
    ck_client_free(t);
    close_pair(p);
}

static void a_tenant_s_keys_start_with_its_tenant_prefix(void) {
    ck_buf v = {0};
    ck_client *t = client_of_tenant_acme();
    ck_cache *ct = cache_or_die(t, ns("shared-tenant-key"), NULL);
    CHECK_ST(ck_make_key(ct, "tenant", MP(0x90), &v), CK_OK);
    CHECK(v.len > 9 && memcmp(v.data, "t:acme:", 7) == 0);
    ck_buf_free(&v);
    ck_cache_free(ct);
    ck_client_free(t);
}

/* ---- a Redis URL nobody listens on (L1 pass: needs no server) --------------- */

/* One client of the dead backend, the namespace without L1. */
static ck_client *dead_client(void) {
    return client_or_die("{\"redis_url\": \"redis://127.0.0.1:1\", \"socket_timeout\": 0.3, "
                         "\"socket_connect_timeout\": 0.3, \"connection_pool_size\": 1}");
}

static void a_dead_backend_fails_open_with_misses_in_bounded_time(void) {
    ck_client *cl = dead_client();
    ck_cache *open = cache_or_die(cl, ns("dead"), "{\"l1_enabled\": false}");
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
    ck_cache_free(open);
    ck_client_free(cl);
}

static void l1_still_serves_when_the_backend_is_dead(void) {
    ck_client *cl = dead_client();
    ck_cache *withl1 = cache_or_die(cl, ns("dead"), NULL);
    ck_buf v = {0};
    bool found = false;
    CHECK_ST(ck_set(withl1, "op", MP(0x90), MP(0x05), 0), CK_OK);
    CHECK_ST(ck_get(withl1, "op", MP(0x90), &v, &found), CK_OK);
    CHECK(found && buf_eq(&v, (const uint8_t[]){0x05}, 1));
    ck_buf_free(&v);
    ck_cache_free(withl1);
    ck_client_free(cl);
}

static void a_fail_closed_cache_reports_a_dead_backend_as_ck_backend(void) {
    ck_client *cl = dead_client();
    ck_cache *closed = cache_or_die(cl, ns("dead"), "{\"l1_enabled\": false, \"fail_closed\": true}");
    ck_buf v = {0};
    bool found = true, exists = true;
    CHECK_ST(ck_get(closed, "op", MP(0x90), &v, &found), CK_BACKEND);
    CHECK_ST(ck_set(closed, "op", MP(0x90), MP(0x01), 0), CK_BACKEND);
    CHECK_ST(ck_exists(closed, "op", MP(0x90), &exists), CK_BACKEND);
    ck_lease *lease = (ck_lease *)(uintptr_t)0x1;
    CHECK_ST(ck_fill_begin(closed, "op", MP(0x90), &v, &lease), CK_BACKEND);
    CHECK(lease == (ck_lease *)(uintptr_t)0x1);
    ck_cache_free(closed);
    ck_client_free(cl);
}

static void check_health_reports_a_dead_backend_unhealthy(void) {
    ck_client *cl = dead_client();
    ck_cache *open = cache_or_die(cl, ns("dead"), "{\"l1_enabled\": false}");
    ck_buf h = {0};
    CHECK_ST(ck_check_health(open, &h), CK_OK);
    CHECK(buf_has(&h, "\"status\":\"unhealthy\""));
    CHECK(buf_has(&h, "\"redis_connection\":\"failed\""));
    ck_buf_free(&h);
    ck_cache_free(open);
    ck_client_free(cl);
}

/* ---- the table ------------------------------------------------------------------ */

enum when {
    EVERY_PASS,  /* L1-only and Redis */
    REDIS_PASS,  /* needs an L2 */
    L1_PASS,     /* needs no server: once is enough */
};

struct test {
    const char *name;
    void (*run)(void);
    enum when when;
};

#define TEST(fn, when) {#fn, fn, when}

static const struct test TESTS[] = {
    /* versions, the last error, buffers */
    TEST(the_abi_version_is_the_one_of_the_header, EVERY_PASS),
    TEST(the_version_is_a_static_dotted_string, EVERY_PASS),
    TEST(the_last_error_is_per_thread_so_a_fresh_thread_has_none, EVERY_PASS),
    TEST(a_successful_call_does_not_clear_the_last_error, EVERY_PASS),
    TEST(freeing_an_empty_buffer_twice_or_null_is_harmless, EVERY_PASS),
    TEST(a_library_buffer_is_emptied_when_freed_and_freeing_it_again_is_harmless, EVERY_PASS),
    TEST(freeing_a_null_client_cache_or_lease_is_harmless, EVERY_PASS),
    /* ck_client_new */
    TEST(a_null_config_lets_the_environment_choose_the_backend, EVERY_PASS),
    TEST(a_client_of_a_null_config_stores_and_returns_values, EVERY_PASS),
    TEST(an_empty_config_is_the_same_as_null, EVERY_PASS),
    TEST(explicit_settings_override_the_environment, EVERY_PASS),
    TEST(the_client_default_ttl_applies_to_caches_without_a_ttl, EVERY_PASS),
    TEST(the_client_key_prefix_starts_every_key, EVERY_PASS),
    TEST(an_interop_namespace_under_a_key_prefix_or_tenant_is_ck_config, EVERY_PASS),
    TEST(a_config_that_is_not_a_json_object_is_ck_config, EVERY_PASS),
    TEST(an_unknown_setting_is_ck_config_naming_it, EVERY_PASS),
    TEST(a_setting_with_a_bad_value_is_ck_config_naming_it, EVERY_PASS),
    TEST(a_config_that_is_not_utf8_is_ck_invalid_argument, EVERY_PASS),
    TEST(ck_client_new_without_an_out_pointer_is_ck_invalid_argument, EVERY_PASS),
    /* ck_cache_new */
    TEST(a_valid_namespace_makes_a_cache_with_or_without_options, EVERY_PASS),
    TEST(an_envelope_namespace_accepts_upper_case_and_colons, EVERY_PASS),
    TEST(an_interop_namespace_in_lower_case_is_accepted, EVERY_PASS),
    TEST(a_namespace_breaking_the_segment_rules_is_ck_invalid_key, EVERY_PASS),
    TEST(a_namespace_or_options_not_utf8_is_ck_invalid_argument, EVERY_PASS),
    TEST(an_unknown_option_is_ck_config_naming_it, EVERY_PASS),
    TEST(an_option_with_a_bad_value_is_ck_config, EVERY_PASS),
    TEST(options_that_are_not_a_json_object_are_ck_config, EVERY_PASS),
    TEST(encryption_without_a_master_key_is_ck_encryption, EVERY_PASS),
    TEST(a_master_key_that_is_not_32_hex_bytes_is_ck_encryption, EVERY_PASS),
    TEST(a_valid_master_key_makes_an_encrypted_cache, EVERY_PASS),
    TEST(a_master_key_in_the_client_config_serves_encrypted_namespaces, EVERY_PASS),
    TEST(ck_cache_new_names_each_missing_pointer, EVERY_PASS),
    TEST(a_cache_outlives_its_client, EVERY_PASS),
    /* ck_make_key */
    TEST(the_interop_key_is_the_protocol_vector, EVERY_PASS),
    TEST(the_envelope_key_is_the_protocol_key_with_an_e1_suffix, EVERY_PASS),
    TEST(one_as_fixint_uint16_or_float64_gives_one_key, EVERY_PASS),
    TEST(another_argument_gives_another_key, EVERY_PASS),
    TEST(the_operation_is_part_of_the_key, EVERY_PASS),
    TEST(arguments_that_are_not_an_array_are_ck_encode, EVERY_PASS),
    TEST(a_nan_or_infinite_argument_is_ck_encode, EVERY_PASS),
    TEST(arguments_that_are_not_one_msgpack_document_are_ck_encode, EVERY_PASS),
    TEST(an_operation_breaking_the_segment_rules_is_ck_invalid_key, EVERY_PASS),
    TEST(an_operation_not_utf8_is_ck_invalid_argument, EVERY_PASS),
    TEST(ck_make_key_names_each_missing_pointer, EVERY_PASS),
    TEST(an_args_length_beyond_isize_is_ck_invalid_argument, EVERY_PASS),
    /* set / get / exists / ttl / delete / clear */
    TEST(a_cold_key_is_a_miss_without_a_value_or_ttl, EVERY_PASS),
    TEST(a_miss_then_a_hit_returns_the_stored_value, EVERY_PASS),
    TEST(the_same_arguments_encoded_differently_hit_the_same_entry, EVERY_PASS),
    TEST(other_arguments_or_another_operation_miss, EVERY_PASS),
    TEST(exists_is_true_for_a_stored_entry_only, EVERY_PASS),
    TEST(an_entry_set_without_a_ttl_has_the_namespace_ttl, EVERY_PASS),
    TEST(an_overwrite_with_an_explicit_ttl_replaces_the_value_and_the_ttl, EVERY_PASS),
    TEST(scalars_and_nil_are_values_too, EVERY_PASS),
    TEST(delete_removes_the_entry_and_says_whether_it_existed, EVERY_PASS),
    TEST(delete_takes_a_null_out_existed, EVERY_PASS),
    TEST(an_entry_expires_after_its_ttl, EVERY_PASS),
    TEST(a_value_that_is_not_one_msgpack_document_is_ck_encode, EVERY_PASS),
    TEST(a_failed_set_does_not_leave_the_older_value_visible, EVERY_PASS),
    TEST(a_negative_ttl_is_ck_invalid_argument_and_stores_nothing, EVERY_PASS),
    TEST(every_keyed_call_refuses_bad_arguments_with_ck_encode, EVERY_PASS),
    TEST(every_keyed_call_refuses_a_bad_operation_with_ck_invalid_key, EVERY_PASS),
    TEST(get_and_set_refuse_an_operation_not_utf8_with_ck_invalid_argument, EVERY_PASS),
    TEST(clear_deletes_every_entry_and_counts_the_redis_keys, EVERY_PASS),
    TEST(clearing_a_namespace_leaves_the_others_alone, EVERY_PASS),
    TEST(clear_deletes_the_redis_entries_another_handle_wrote, REDIS_PASS),
    /* the interop format */
    TEST(an_interop_cache_round_trips_a_canonical_map, EVERY_PASS),
    TEST(nan_is_a_valid_interop_value_though_never_a_key, EVERY_PASS),
    TEST(an_interop_cache_refuses_values_without_a_canonical_form, EVERY_PASS),
    TEST(an_interop_cache_refuses_an_upper_case_operation, EVERY_PASS),
    /* fill leases */
    TEST(a_cold_fill_gives_a_lease_and_no_value, EVERY_PASS),
    TEST(ck_flush_waits_for_the_writes_behind_callers, EVERY_PASS),
    TEST(a_completed_fill_is_stored_with_the_namespace_ttl, EVERY_PASS),
    TEST(a_warm_fill_gives_the_value_and_no_lease, EVERY_PASS),
    TEST(a_value_stored_with_ck_set_is_a_fill_hit, EVERY_PASS),
    TEST(a_completion_with_a_ttl_overrides_the_namespace_ttl, EVERY_PASS),
    TEST(an_aborted_fill_caches_nothing_and_the_next_caller_gets_a_lease, EVERY_PASS),
    TEST(completing_with_a_value_that_cannot_be_stored_is_ck_encode, EVERY_PASS),
    TEST(completing_with_a_negative_ttl_is_ck_invalid_argument, EVERY_PASS),
    TEST(completing_with_a_null_value_and_a_length_is_ck_invalid_argument, EVERY_PASS),
    TEST(a_fill_of_a_bad_key_is_refused_without_a_lease, EVERY_PASS),
    TEST(eight_threads_on_one_cold_key_compute_once_and_all_get_the_value, EVERY_PASS),
    TEST(a_waiter_takes_over_when_the_lease_holder_aborts, EVERY_PASS),
    TEST(fill_wait_ms_bounds_the_wait_then_the_waiter_computes_itself, EVERY_PASS),
    /* health */
    TEST(health_is_a_json_object_naming_the_namespace_and_backend, EVERY_PASS),
    TEST(check_health_adds_the_status_of_the_redis_connection, EVERY_PASS),
    TEST(an_encrypted_namespace_reports_a_key_fingerprint_never_the_key, EVERY_PASS),
    TEST(health_hides_the_secrets_of_the_config, REDIS_PASS),
    TEST(the_health_calls_name_each_missing_pointer, EVERY_PASS),
    /* NULL for every required pointer */
    TEST(ck_client_new_refuses_a_null_out_client_by_name, EVERY_PASS),
    TEST(ck_cache_new_refuses_each_null_pointer_by_name, EVERY_PASS),
    TEST(ck_make_key_refuses_each_null_pointer_by_name, EVERY_PASS),
    TEST(ck_get_refuses_each_null_pointer_by_name, EVERY_PASS),
    TEST(ck_set_refuses_each_null_pointer_by_name_and_stores_nothing, EVERY_PASS),
    TEST(ck_delete_refuses_each_null_pointer_by_name, EVERY_PASS),
    TEST(ck_exists_refuses_each_null_pointer_by_name, EVERY_PASS),
    TEST(ck_ttl_refuses_each_null_pointer_by_name, EVERY_PASS),
    TEST(ck_clear_refuses_a_null_cache_by_name, EVERY_PASS),
    TEST(ck_fill_begin_refuses_each_null_pointer_by_name, EVERY_PASS),
    TEST(ck_lease_complete_refuses_a_null_lease_by_name, EVERY_PASS),
    TEST(ck_health_and_ck_check_health_refuse_each_null_pointer_by_name, EVERY_PASS),
    /* encryption */
    TEST(an_encrypted_cache_round_trips_a_value, EVERY_PASS),
    TEST(an_encrypted_cache_with_a_plaintext_l1_round_trips_a_value, EVERY_PASS),
    TEST(a_fill_works_through_encryption, EVERY_PASS),
    TEST(another_handle_with_the_same_key_reads_the_encrypted_entry_from_redis, REDIS_PASS),
    TEST(after_a_key_rotation_the_old_key_still_decrypts, REDIS_PASS),
    TEST(another_master_key_reads_a_miss_not_an_error_nor_the_value, REDIS_PASS),
    TEST(another_master_key_round_trips_its_own_values, REDIS_PASS),
    TEST(an_unencrypted_reader_of_the_namespace_sees_no_plaintext, REDIS_PASS),
    /* two clients sharing one Redis */
    TEST(a_client_without_l1_says_so_in_its_health, REDIS_PASS),
    TEST(a_value_set_by_one_client_is_read_by_another, REDIS_PASS),
    TEST(another_client_sees_the_entry_exist_with_its_ttl, REDIS_PASS),
    TEST(another_client_s_fill_is_a_hit_on_that_entry, REDIS_PASS),
    TEST(a_value_set_by_the_client_without_l1_is_read_by_the_other, REDIS_PASS),
    TEST(a_fill_completed_in_one_client_is_read_by_another, REDIS_PASS),
    TEST(a_delete_by_another_client_removes_the_entry_from_redis, REDIS_PASS),
    TEST(clear_counts_the_redis_keys_it_deletes, REDIS_PASS),
    TEST(interop_entries_are_shared_between_clients, REDIS_PASS),
    TEST(an_envelope_reader_of_an_interop_namespace_uses_another_key, REDIS_PASS),
    TEST(the_same_namespace_in_two_tenants_does_not_share_entries, REDIS_PASS),
    TEST(a_tenant_s_keys_start_with_its_tenant_prefix, REDIS_PASS),
    /* a Redis URL nobody listens on */
    TEST(a_dead_backend_fails_open_with_misses_in_bounded_time, L1_PASS),
    TEST(l1_still_serves_when_the_backend_is_dead, L1_PASS),
    TEST(a_fail_closed_cache_reports_a_dead_backend_as_ck_backend, L1_PASS),
    TEST(check_health_reports_a_dead_backend_unhealthy, L1_PASS),
};

#define N_TESTS (sizeof TESTS / sizeof TESTS[0])

/* ---- driver ------------------------------------------------------------------- */

static int g_tests_passed;
static int g_tests_failed;
static char **g_only; /* names given on the command line (substrings), or NULL */
static int g_n_only;

static bool selected(const char *name) {
    if (g_n_only == 0) return true;
    for (int i = 0; i < g_n_only; i++)
        if (strstr(name, g_only[i]) != NULL) return true;
    return false;
}

/* The result of one test, counted and named. */
static void record(const char *name, bool ok, int checks) {
    if (ok) {
        g_tests_passed++;
        printf("ok      %s/%s (%d checks)\n", g_pass, name, checks);
    } else {
        g_tests_failed++;
        printf("FAILED  %s/%s\n", g_pass, name);
    }
    fflush(stdout);
}

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
    int before_passed = g_tests_passed, before_tests_failed = g_tests_failed;
    for (size_t i = 0; i < N_TESTS; i++) {
        const struct test *t = &TESTS[i];
        if (t->when == REDIS_PASS && !g_redis) continue;
        if (t->when == L1_PASS && g_redis) continue;
        if (!selected(t->name)) continue;
        g_test = t->name;
        int checks = g_checks, failed = g_failed;
        t->run();
        record(t->name, g_failed == failed, g_checks - checks);
    }
    g_test = "-";
    printf("pass %s: %d tests passed, %d failed (%d checks, %d failed)\n", pass, g_tests_passed - before_passed,
           g_tests_failed - before_tests_failed, g_checks - before_checks, g_failed - before_failed);
    fflush(stdout);
}

int main(int argc, char **argv) {
    bool l1_only = false;
    g_only = calloc((size_t)argc, sizeof *g_only);
    if (g_only == NULL) return 2;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--l1-only") == 0) {
            l1_only = true;
        } else if (argv[i][0] == '-') {
            fprintf(stderr, "usage: %s [--l1-only] [NAME...]\n", argv[0]);
            return 2;
        } else {
            g_only[g_n_only++] = argv[i];
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
        g_test = "setup";
        fprintf(stderr,
                "FAIL: CACHEKIT_TEST_REDIS_URL is not set, so the Redis (L2) half of the suite did not run.\n"
                "      Set it to a throwaway server (e.g. redis://127.0.0.1:6399) or pass --l1-only to\n"
                "      run the L1-only half on purpose.\n");
        CHECK(!"CACHEKIT_TEST_REDIS_URL is set (or --l1-only given)");
        record("the_redis_half_of_the_suite_runs", false, 1);
    } else {
        printf("--l1-only: the Redis half of the suite was skipped on request\n");
    }

    if (g_n_only > 0 && g_tests_passed + g_tests_failed == 0) {
        fprintf(stderr, "FAIL: no test name contains any of the names given\n");
        g_tests_failed++;
    }
    printf("checks: %d passed, %d failed\n", g_checks - g_failed, g_failed);
    printf("%d passed, %d failed\n", g_tests_passed, g_tests_failed);
    return g_tests_failed == 0 && g_failed == 0 ? 0 : 1;
}
