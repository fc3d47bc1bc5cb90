#ifndef CACHEKIT_GO_SHIM_H
#define CACHEKIT_GO_SHIM_H
#include "cachekit.h"

typedef struct ckgo_fill_out {
    ck_status status;
    const uint8_t *data;
    size_t len;
    ck_lease *lease;
} ckgo_fill_out;

ckgo_fill_out ckgo_fill_begin(const ck_cache *cache, const char *op, const uint8_t *args, size_t args_len);
ckgo_fill_out ckgo_peek(const ck_cache *cache, const char *op, const uint8_t *args, size_t args_len);
ck_status ckgo_lease_complete(ck_lease *lease, const uint8_t *value, size_t len, int64_t ttl_ms);
ck_status ckgo_delete(const ck_cache *c, const char *op, const uint8_t *args, size_t n, bool *existed);
ck_status ckgo_exists(const ck_cache *c, const char *op, const uint8_t *args, size_t n, bool *out);
ck_status ckgo_ttl(const ck_cache *c, const char *op, const uint8_t *args, size_t n, int64_t *out);
ck_status ckgo_clear(const ck_cache *c, uint64_t *out);
ck_status ckgo_clear_operation(const ck_cache *c, const char *op, uint64_t *out);
ck_status ckgo_flush(const ck_client *c, uint64_t timeout_ms, uint64_t *pending);
ck_status ckgo_check_health(const ck_cache *c, ck_buf *out);
void ckgo_client_free(ck_client *c);
ck_status ckgo_set_log(uint8_t min_level, int on);
void ckgo_log_trampoline(void *user_data, uint8_t level, const char *json);

// Exported from Go (ffi.go).
extern void goCachekitLog(void *user_data, uint8_t level, char *json);
#endif
