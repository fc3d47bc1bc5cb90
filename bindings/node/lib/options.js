'use strict';
// Options and settings: the JavaScript names (camelCase) mapped to the
// core's (snake_case), passed as JSON. The core parses and validates them
// (types, ranges, encryption keys); this file only renames, refuses names it
// does not know (with the known ones in the message) and expands the
// wrapper's shorthands (`interop`, `l1`, `encryption`).

// Client settings: JS name -> the core's setting.
const SETTINGS = {
  redisUrl: 'redis_url',
  connectionPoolSize: 'connection_pool_size',
  socketTimeout: 'socket_timeout',
  socketConnectTimeout: 'socket_connect_timeout',
  defaultTtl: 'default_ttl',
  enableCompression: 'enable_compression',
  compressionLevel: 'compression_level',
  maxChunkSizeMb: 'max_chunk_size_mb',
  l1Enabled: 'l1_enabled',
  l1MaxSizeMb: 'l1_max_size_mb',
  enablePrometheusMetrics: 'enable_prometheus_metrics',
  masterKey: 'master_key',
  keyPrefix: 'key_prefix',
  tenantId: 'tenant_id',
  tlsCaCert: 'tls_ca_cert',
};

// Per-namespace options: JS name -> the core's option.
const OPTIONS = {
  ttl: 'ttl',
  format: 'format',
  l1MaxSizeMb: 'l1_max_size_mb',
  masterKey: 'master_key',
  decryptOnlyKeys: 'decrypt_only_keys',
  tenantId: 'tenant_id',
  l1Plaintext: 'l1_plaintext',
  failClosed: 'fail_closed',
  fillWaitMs: 'fill_wait_ms',
  circuitBreaker: 'circuit_breaker',
  breaker: 'circuit_breaker',
  adaptiveTimeout: 'adaptive_timeout',
  timeout: 'adaptive_timeout',
  backpressure: 'backpressure',
  maxConcurrentRequests: 'max_concurrent_requests',
  collectStats: 'collect_stats',
  structuredLogging: 'structured_logging',
  distributedLock: 'distributed_lock',
  lockTtlMs: 'lock_ttl_ms',
  lockRenewal: 'lock_renewal',
  readLockCombined: 'read_lock_combined',
  refreshTtlOnGet: 'refresh_ttl_on_get',
  ttlRefreshThreshold: 'ttl_refresh_threshold',
  pipelined: 'pipelined',
  earlyRefreshBeta: 'early_refresh_beta',
  staleWhileRevalidate: 'stale_while_revalidate',
  maxBackgroundRefreshes: 'max_background_refreshes',
  negativeTtl: 'negative_ttl',
  l1SyncMs: 'l1_sync_ms',
};
// Handled here, not options of the core.
const WRAPPER_OPTIONS = ['namespace', 'operation', 'client', 'interop', 'l1', 'encryption'];

// The fields of an `encryption: {...}` object: JS name -> the core's option.
const ENCRYPTION = { masterKey: 'master_key', decryptOnlyKeys: 'decrypt_only_keys', tenantId: 'tenant_id', l1Plaintext: 'l1_plaintext' };

const snake = (s) => s.replace(/[A-Z]/g, (c) => '_' + c.toLowerCase());

// Nested option objects ({failureThreshold: 3}) take the core's field names.
function nested(v) {
  if (v === null || typeof v !== 'object' || Array.isArray(v)) return v;
  const out = {};
  for (const [k, e] of Object.entries(v)) out[snake(k)] = e;
  return out;
}

function unknown(what, k, known) {
  return new TypeError(`cachekit: unknown ${what} "${k}"; known: ${known.join(', ')}`);
}

/** Client settings as the core's JSON; null (the environment decides) for none. */
function settingsJson(settings) {
  if (settings == null) return null;
  const out = {};
  for (const [k, v] of Object.entries(settings)) {
    if (v === undefined) continue;
    const core = SETTINGS[k];
    if (!core) throw unknown('client setting', k, Object.keys(SETTINGS));
    out[core] = v;
  }
  return JSON.stringify(out);
}

/** The options of cache() or namespace() as the core's per-namespace JSON. */
function optionsJson(opts) {
  const out = {};
  for (const [k, v] of Object.entries(opts)) {
    if (v === undefined || WRAPPER_OPTIONS.includes(k)) continue;
    const core = OPTIONS[k];
    if (!core) throw unknown('option', k, [...WRAPPER_OPTIONS, ...Object.keys(OPTIONS)]);
    out[core] = nested(v);
  }
  if (opts.interop !== undefined) out.format = opts.interop ? 'interop' : 'envelope';
  if (opts.l1 !== undefined) {
    if (typeof opts.l1 === 'boolean') out.l1_enabled = opts.l1;
    else if (opts.l1 && typeof opts.l1 === 'object') {
      if (opts.l1.enabled !== undefined) out.l1_enabled = opts.l1.enabled;
      if (opts.l1.maxSizeMb !== undefined) out.l1_max_size_mb = opts.l1.maxSizeMb;
    } else throw new TypeError('cachekit: option "l1" must be true, false or {enabled, maxSizeMb}');
  }
  const enc = opts.encryption;
  if (enc !== undefined) {
    if (typeof enc === 'boolean') out.encryption = enc;
    else if (enc && typeof enc === 'object') {
      out.encryption = true;
      for (const [k, v] of Object.entries(enc)) {
        const core = ENCRYPTION[k];
        if (!core) throw unknown('encryption option', k, Object.keys(ENCRYPTION));
        out[core] = v;
      }
    } else throw new TypeError('cachekit: option "encryption" must be true, false or {masterKey, decryptOnlyKeys, tenantId, l1Plaintext}');
  }
  if (out.master_key !== undefined && out.encryption === undefined) out.encryption = true;
  return JSON.stringify(out);
}

module.exports = { SETTINGS, OPTIONS, WRAPPER_OPTIONS, settingsJson, optionsJson };
