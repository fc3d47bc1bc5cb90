'use strict';
// cachekit for Node.js: `cache(fn, opts)` memoises an async function in the
// shared cachekit engine (L1 in process, Redis as L2). The Rust core decides
// everything (keys, L1, Redis, single flight, locks, fail-open); this file
// only speaks JavaScript: it encodes arguments and values as MessagePack,
// maps options, and turns the addon's answers into Promises.

const path = require('node:path');
const codec = require('./lib/codec');
const { CachekitError, UndecodableError, Float, Uuid, Timestamp, Ext, encodeArgs, encodeValue, decodeValue } = codec;

const ADDON_ABI = 1;

function loadAddon() {
  const file = process.env.CACHEKIT_NODE_ADDON || path.join(__dirname, 'cachekit.node');
  let addon;
  try {
    addon = require(file);
  } catch (e) {
    throw new Error(
      `cachekit: cannot load the native addon ${file}: ${e.message}. ` +
        'Build it with bindings/node/ci.sh (cargo build -p cachekit-node, copied to cachekit.node), ' +
        'or point CACHEKIT_NODE_ADDON at a built one.',
      { cause: e },
    );
  }
  const abi = typeof addon.addonAbi === 'function' ? addon.addonAbi() : undefined;
  if (abi !== ADDON_ABI) {
    throw new Error(`cachekit: the native addon ${file} has ABI ${abi}, this index.js needs ${ADDON_ABI}: rebuild it (bindings/node/ci.sh)`);
  }
  return addon;
}

const native = loadAddon();

// Native errors arrive as "[CODE] message".
const CODED = /^\[([A-Z_]+)\] /;
function convert(e) {
  if (e instanceof CachekitError || !(e instanceof Error)) return e;
  const m = CODED.exec(e.message);
  return m ? new CachekitError(m[1], e.message.slice(m[0].length)) : e;
}
function call(f) {
  try {
    return f();
  } catch (e) {
    throw convert(e);
  }
}
async function settle(p) {
  try {
    return await p;
  } catch (e) {
    throw convert(e);
  }
}

// L2 reads run as the core's blocking call on a libuv pool thread (its own
// Redis connection: no hop to the core's runtime, no threadsafe function
// per call). Such a thread blocks while a fill waits (for another caller,
// a lock held elsewhere, a slow Redis), so at most half the pool is ever
// ours: file system, DNS and crypto work (the function being cached, too)
// always have threads left. The other calls go through the core's runtime.
const POOL_SLOTS = Math.floor((Number(process.env.UV_THREADPOOL_SIZE) || 4) / 2);
let poolBusy = 0;
async function pooled(p) {
  try {
    return await p;
  } catch (e) {
    throw convert(e);
  } finally {
    poolBusy -= 1;
  }
}
function l2Call(op, l2, a, now, later) {
  if (l2 && poolBusy < POOL_SLOTS) {
    const p = call(() => now.call(op, a));
    poolBusy += 1;
    return pooled(p);
  }
  return settle(call(() => later.call(op, a)));
}
const fillL2 = (op, l2, a) => l2Call(op, l2, a, op.fillNow, op.fill);
const getL2 = (op, l2, a) => l2Call(op, l2, a, op.getNow, op.get);

// ---------------------------------------------------------------- options

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
        const core = { masterKey: 'master_key', decryptOnlyKeys: 'decrypt_only_keys', tenantId: 'tenant_id', l1Plaintext: 'l1_plaintext' }[k];
        if (!core) throw unknown('encryption option', k, ['masterKey', 'decryptOnlyKeys', 'tenantId', 'l1Plaintext']);
        out[core] = v;
      }
    } else throw new TypeError('cachekit: option "encryption" must be true, false or {masterKey, decryptOnlyKeys, tenantId, l1Plaintext}');
  }
  if (out.master_key !== undefined && out.encryption === undefined) out.encryption = true;
  return JSON.stringify(out);
}

// ---------------------------------------------------------------- naming

// Default names, as the Python wrapper makes them: the namespace from the
// defining module (here its file, relative to the working directory), the
// operation from the function's name, folded into the allowed characters,
// so two functions never share entries by accident. To share entries across
// languages, name both explicitly.
function fold(s, strict, colon) {
  if (strict) {
    s = s.toLowerCase().replace(/[^a-z0-9._-]/g, '_').replace(/\.\.+/g, '.').replace(/^[._-]+/, '');
    return (s || 'default').slice(0, 64);
  }
  s = s.replace(colon ? /[^A-Za-z0-9._:-]/g : /[^A-Za-z0-9._-]/g, '_').replace(/^:+/, '');
  return (s || 'default').slice(0, 128);
}

function callerFile() {
  const keep = Error.prepareStackTrace;
  try {
    Error.prepareStackTrace = (_, frames) => frames;
    const frames = new Error().stack;
    for (const f of frames) {
      const file = f.getFileName && f.getFileName();
      if (file && file !== __filename && !file.startsWith('node:')) return file;
    }
  } finally {
    Error.prepareStackTrace = keep;
  }
  return 'default';
}

function defaultNamespace(strict) {
  let file = callerFile();
  if (file.startsWith('file://')) file = require('node:url').fileURLToPath(file);
  const rel = path.isAbsolute(file) ? path.relative(process.cwd(), file) : file;
  const mod = rel.replace(/\.(c|m)?[jt]s$/, '').split(path.sep).filter((p) => p && p !== '..').join('.');
  return fold(mod, strict, true);
}

function defaultOperation(fn, strict) {
  const name = (fn.name || '').replace(/^bound /, '');
  if (!name) {
    throw new TypeError('cachekit: an anonymous function needs opts.operation (the name its entries are stored under)');
  }
  return fold(name, strict, false);
}

// ---------------------------------------------------------------- client

/** Explicit settings for a client of its own; see createClient. */
class Client {
  constructor(settings) {
    this._native = call(() => new native.NativeClient(settingsJson(settings)));
    this._caches = new Map();
    // Set when a write may be behind the caller; cleared by a flush.
    this._dirty = false;
    track(this);
  }

  // One native namespace handle per (namespace, options): functions that
  // share both share one L1.
  _namespace(name, json) {
    const k = name + '\0' + json;
    let c = this._caches.get(k);
    if (!c) {
      c = call(() => this._native.cache(name, json));
      this._caches.set(k, c);
    }
    return c;
  }

  /** Memoise `fn` in this client; see the module-level `cache`. */
  cache(fn, opts) {
    return makeCached(this, fn, opts || {});
  }

  /** A namespace for explicit get/set/delete by operation and arguments. */
  namespace(name, opts) {
    return new Namespace(this, name, opts || {});
  }

  /** Prometheus exposition text of every cache of this client. */
  metrics() {
    return call(() => this._native.metrics());
  }

  /**
   * Wait, at most `timeoutMs`, for the Redis writes made behind callers;
   * resolves with how many are still under way. Done for you before exit.
   */
  flush(timeoutMs = 5000) {
    return settle(this._native.flush(timeoutMs));
  }
}

// Writes made behind callers must land before the process ends: flush on
// 'beforeExit' (the loop is idle; async), and as a last resort on 'exit'
// (process.exit(): no loop left, so a short blocking wait is all there is).
const clients = new Set();
let hooked = false;
function track(c) {
  clients.add(c);
  if (hooked) return;
  hooked = true;
  let flushing = false;
  process.on('beforeExit', () => {
    // A flush is work for the loop, so 'beforeExit' comes again after it:
    // flush only clients that wrote since, or this would never end.
    const dirty = [...clients].filter((c) => c._dirty);
    if (flushing || dirty.length === 0) return;
    flushing = true;
    for (const c of dirty) c._dirty = false;
    Promise.all(dirty.map((c) => c._native.flush(5000)))
      .catch(() => {})
      .then(() => {
        flushing = false;
      });
  });
  process.on('exit', () => {
    for (const c of clients) {
      if (!c._dirty) continue;
      try {
        c._native.flushSync(1000);
      } catch {
        // exiting: nothing left to report to
      }
    }
  });
}

let defaultClient = null;
function getDefaultClient() {
  if (defaultClient === null) defaultClient = new Client(null);
  return defaultClient;
}

/** A client with explicit settings (they override CACHEKIT_* variables). */
function createClient(settings) {
  return new Client(settings || {});
}

// ---------------------------------------------------------------- values

const UNDECODABLE = Symbol('undecodable');
function tryDecode(buf, op, a) {
  try {
    return decodeValue(buf);
  } catch (e) {
    // Never a wrong value: the entry is deleted everywhere and recomputed.
    op.discard(a, `the Node wrapper could not decode the cached value: ${e.message}`);
    return UNDECODABLE;
  }
}

// ---------------------------------------------------------------- cache()

function makeCached(client, fn, opts) {
  if (typeof fn !== 'function') throw new TypeError('cachekit: cache(fn, opts) needs a function');
  if (opts === null || typeof opts !== 'object') throw new TypeError('cachekit: opts must be an object');
  const json = optionsJson(opts);
  const strict = JSON.parse(json).format === 'interop';
  const namespace = opts.namespace ?? defaultNamespace(strict);
  const operation = opts.operation ?? defaultOperation(fn, strict);
  const ns = client._namespace(namespace, json);
  const op = call(() => ns.op(operation));
  const failClosed = opts.failClosed === true;
  const l2 = call(() => op.hasL2());

  async function compute(self, args, lease) {
    let value;
    try {
      value = await fn.apply(self, args);
    } catch (e) {
      lease.abort(); // errors are never cached; a waiter takes over
      throw e;
    }
    let bytes;
    try {
      bytes = encodeValue(value);
    } catch (e) {
      lease.abort();
      throw e;
    }
    client._dirty = true;
    if (failClosed) await settle(lease.completeAndWait(bytes));
    else call(() => lease.complete(bytes));
    return value;
  }

  function refreshBehind(self, args, lease) {
    compute(self, args, lease).catch(() => {
      // The stale value was served; a failed refresh is retried by a later call.
    });
  }

  async function miss(self, args, a) {
    const r = await fillL2(op, l2, a);
    if (Buffer.isBuffer(r)) {
      const v = tryDecode(r, op, a);
      // Undecodable: the core has it (counted, deleted everywhere); answer
      // with a fresh result, as the other wrappers do; the next call fills.
      return v !== UNDECODABLE ? v : fn.apply(self, args);
    }
    if (Array.isArray(r)) {
      const [buf, lease] = r; // a value still good to return, and a refresh due
      const v = tryDecode(buf, op, a);
      if (v !== UNDECODABLE) {
        refreshBehind(self, args, lease);
        return v;
      }
      return compute(self, args, lease);
    }
    return compute(self, args, r);
  }

  async function cached(...args) {
    const a = encodeArgs(args);
    let hit;
    try {
      hit = op.peek(a);
    } catch (e) {
      throw convert(e);
    }
    if (hit != null) {
      const v = tryDecode(hit, op, a);
      if (v !== UNDECODABLE) return v;
    }
    return miss(this, args, a);
  }

  Object.defineProperty(cached, 'name', { value: fn.name ? `cached ${fn.name}` : 'cached' });
  cached.namespace = namespace;
  cached.operation = operation;
  /** Delete the entry of these arguments (L1, Redis, other processes' L1). */
  cached.invalidate = (...args) => settle(op.delete(encodeArgs(args)));
  /** Delete every entry of this function; resolves with the Redis keys deleted. */
  cached.clear = () => settle(ns.clearOperation(operation));
  /** The Redis key of these arguments. */
  cached.key = (...args) => call(() => op.key(encodeArgs(args)));
  /** Health of the namespace (no I/O). */
  cached.healthStatus = () => JSON.parse(call(() => ns.health()));
  /** healthStatus plus an active PING of Redis. */
  cached.checkHealth = async () => JSON.parse(await settle(ns.checkHealth()));
  return cached;
}

/**
 * Memoise an async (or sync) function: `cache(fn, opts)` returns an async
 * function with the same arguments. See index.d.ts for the options.
 */
function cache(fn, opts) {
  const o = opts || {};
  return makeCached(o.client || getDefaultClient(), fn, o);
}

// ---------------------------------------------------------------- namespace

/** Explicit get/set/delete by operation name and argument list. */
class Namespace {
  constructor(client, name, opts) {
    this._client = client;
    this._ns = client._namespace(name, optionsJson(opts));
    this._ops = new Map();
    this.name = name;
  }

  _op(operation) {
    let o = this._ops.get(operation);
    if (!o) {
      o = call(() => this._ns.op(operation));
      this._ops.set(operation, o);
    }
    return o;
  }

  /** The value cached for operation(args), or undefined. */
  async get(operation, args = []) {
    const op = this._op(operation);
    const a = encodeArgs(args);
    if (this._l2 === undefined) this._l2 = call(() => op.hasL2());
    const buf = await getL2(op, this._l2, a);
    if (buf === null) return undefined;
    const v = tryDecode(buf, op, a);
    return v === UNDECODABLE ? undefined : v;
  }

  /** Store `value` for operation(args); `ttl` in seconds (namespace default). */
  async set(operation, args, value, ttl) {
    const op = this._op(operation);
    const a = encodeArgs(args || []);
    const bytes = encodeValue(value);
    this._client._dirty = true;
    await settle(call(() => op.set(a, bytes, ttl === undefined ? undefined : ttl * 1000)));
  }

  /** Delete operation(args); resolves with whether it existed. */
  delete(operation, args = []) {
    return settle(this._op(operation).delete(encodeArgs(args)));
  }

  key(operation, args = []) {
    return call(() => this._op(operation).key(encodeArgs(args)));
  }

  /** Delete every entry of the namespace (or of one operation). */
  clear(operation) {
    return settle(operation === undefined ? this._ns.clear() : this._ns.clearOperation(operation));
  }

  healthStatus() {
    return JSON.parse(call(() => this._ns.health()));
  }

  async checkHealth() {
    return JSON.parse(await settle(this._ns.checkHealth()));
  }
}

/** A float64 on the wire even when integral (see Float). */
const float = (v) => new Float(v);
/** A UUID argument, equal to Python's uuid.UUID in keys. */
const uuid = (s) => new Uuid(s);

module.exports = {
  cache,
  createClient,
  Client,
  Namespace,
  CachekitError,
  UndecodableError,
  Float,
  Uuid,
  Timestamp,
  Ext,
  float,
  uuid,
  metrics: () => getDefaultClient().metrics(),
  flush: (timeoutMs) => getDefaultClient().flush(timeoutMs),
  coreVersion: native.coreVersion(),
  // For tests and tools that need the exact bytes.
  encodeArgs,
  encodeValue,
  decodeValue,
};
