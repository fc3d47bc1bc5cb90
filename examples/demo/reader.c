/* The demo's C reader: the same cached function (namespace "demo",
 * operation "price") through the C ABI, with msgpack-c packing the
 * arguments and printing the value. Python cached the value: this call is
 * a hit, and nothing is computed here.
 *
 *   cc examples/demo/reader.c -Iinclude -Ltarget/debug -lcachekit -lmsgpackc -o reader
 */
#include <msgpack.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "cachekit.h"

static double now_ms(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec * 1e3 + t.tv_nsec / 1e6;
}

static int fail(const char *what) {
    fprintf(stderr, "c: %s failed: %s\n", what, ck_last_error());
    return 2;
}

int main(int argc, char **argv) {
    const char *sku = argc > 1 ? argv[1] : "sku-42";
    struct ck_client *client = NULL;
    struct ck_cache *demo = NULL;
    if (ck_client_new(NULL, &client) != CK_OK) return fail("ck_client_new"); /* CACHEKIT_* environment */
    if (ck_cache_new(client, "demo", "{\"ttl\": 300}", &demo) != CK_OK) return fail("ck_cache_new");

    /* The arguments: a MessagePack array of one string. */
    msgpack_sbuffer args;
    msgpack_sbuffer_init(&args);
    msgpack_packer pk;
    msgpack_packer_init(&pk, &args, msgpack_sbuffer_write);
    msgpack_pack_array(&pk, 1);
    msgpack_pack_str_with_body(&pk, sku, strlen(sku));

    struct ck_buf value = {0};
    struct ck_lease *lease = NULL;
    double t = now_ms();
    if (ck_fill_begin(demo, "price", (const uint8_t *)args.data, args.size, &value, &lease) != CK_OK) return fail("ck_fill_begin");
    double ms = now_ms() - t;
    int status = 0;
    if (lease != NULL && value.data == NULL) {
        printf("c       price('%s') MISS: nothing cached (run the Python writer first) in %8.2f ms\n", sku, ms);
        ck_lease_abort(lease);
        status = 1;
    } else {
        if (lease != NULL) ck_lease_abort(lease); /* a refresh is due: not ours to compute */
        msgpack_unpacked doc;
        msgpack_unpacked_init(&doc);
        printf("c       price('%s') hit (nothing computed)        in %8.2f ms: ", sku, ms);
        if (msgpack_unpack_next(&doc, (const char *)value.data, value.len, NULL) == MSGPACK_UNPACK_SUCCESS) {
            msgpack_object_print(stdout, doc.data);
        }
        printf("\n");
        msgpack_unpacked_destroy(&doc);
    }
    ck_buf_free(&value);
    msgpack_sbuffer_destroy(&args);
    ck_cache_free(demo);
    ck_client_free(client);
    return status;
}
