/* C reader of the packaging test: greet("world") in NAMESPACE must be a hit
 * of the value Python wrote. Built with `pkg-config --cflags --libs cachekit`
 * against the unpacked C tree (shared), and against its libcachekit.a with
 * `pkg-config --static` (static).
 *   read NAMESPACE */
#include <cachekit.h>
#include <stdio.h>
#include <string.h>

int main(int argc, char **argv) {
    if (argc < 2) return 2;
    struct ck_client *client = NULL;
    struct ck_cache *cache = NULL;
    if (ck_client_new(NULL, &client) != CK_OK) { /* CACHEKIT_REDIS_URL */
        fprintf(stderr, "c: ck_client_new: %s\n", ck_last_error());
        return 1;
    }
    if (ck_cache_new(client, argv[1], "{\"ttl\": 600}", &cache) != CK_OK) {
        fprintf(stderr, "c: ck_cache_new: %s\n", ck_last_error());
        return 1;
    }
    /* The arguments ("world") as a MessagePack array; the value as MessagePack. */
    static const uint8_t args[] = {0x91, 0xa5, 'w', 'o', 'r', 'l', 'd'};
    static const char want[] = "\xb1hello from python";
    struct ck_buf value = {0};
    bool found = false;
    if (ck_get(cache, "greet", args, sizeof args, &value, &found) != CK_OK) {
        fprintf(stderr, "c: ck_get: %s\n", ck_last_error());
        return 1;
    }
    int ok = found && value.len == sizeof want - 1 && memcmp(value.data, want, value.len) == 0;
    if (!ok) {
        fprintf(stderr, "c: not a hit of python's value (found=%d, %zu bytes:", found, value.len);
        for (size_t i = 0; i < value.len; i++) fprintf(stderr, " %02x", value.data[i]);
        fprintf(stderr, ")\n");
    } else {
        printf("c (%s): hit \"hello from python\" (cachekit %s)\n", CACHEKIT_LINK, ck_version());
    }
    ck_buf_free(&value);
    ck_cache_free(cache);
    ck_client_free(client);
    return ok ? 0 : 1;
}
