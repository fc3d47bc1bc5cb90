'use strict';
// A client: one native client (its Redis connections, its settings) and the
// namespace handles made from it. Functions cached under the same namespace
// and options share one handle, so one L1.

const { native } = require('./addon');
const { call, settle } = require('./errors');
const { settingsJson } = require('./options');
const { makeCached } = require('./cached');
const { Namespace } = require('./namespace');
const health = require('./health');
const { flushBeforeExit } = require('./exit');

/** Explicit settings for a client of its own; see createClient. */
class Client {
  constructor(settings) {
    this._native = call(() => new native.NativeClient(settingsJson(settings)));
    this._caches = new Map();
    // Set when a write may be behind the caller; cleared by a flush.
    this._dirty = false;
    flushBeforeExit(this);
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
    return health.metrics(this._native);
  }

  /**
   * Wait, at most `timeoutMs`, for the Redis writes made behind callers;
   * resolves with how many are still under way. Done for you before exit.
   */
  flush(timeoutMs = 5000) {
    return settle(this._native.flush(timeoutMs));
  }

  /**
   * Close the client: its writes behind callers land first, then every call
   * of its cached functions and namespaces rejects with code CLOSED and
   * writes nothing. Resolves with the writes still under way; twice is harmless.
   */
  close() {
    return settle(this._native.close());
  }
}

/** A client with explicit settings (they override CACHEKIT_* variables). */
function createClient(settings) {
  return new Client(settings || {});
}

module.exports = { Client, createClient };
