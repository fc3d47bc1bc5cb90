'use strict';
// The cached function: what cache(fn, opts) returns. A hit is answered from
// L1 at once (op.peek); a miss asks the core for the value or a lease (the
// core decides: L2, single flight, locks, early refresh, fail-open), runs
// `fn` when it holds the lease and hands the result back to the core.

const { CachekitError, convert, call, settle } = require('./errors');
const { encodeArgs } = require('./args');
const { encodeValue } = require('./values');
const { optionsJson } = require('./options');
const { defaultNamespace, defaultOperation } = require('./names');
const { fillL2 } = require('./pool');
const { UNDECODABLE, tryDecode } = require('./undecodable');
const health = require('./health');

function makeCached(client, fn, opts) {
  if (typeof fn !== 'function') throw new TypeError('cachekit: cache(fn, opts) needs a function');
  if (opts === null || typeof opts !== 'object') throw new TypeError('cachekit: opts must be an object');
  const json = optionsJson(opts);
  const strict = JSON.parse(json).format === 'interop';
  if (strict && opts.namespace == null) {
    // Interop keys are shared by name with other SDKs: a namespace taken
    // from this file would share, or not, by accident (DESIGN section 4).
    throw new CachekitError('CONFIG', 'cachekit: the interop format needs an explicit opts.namespace (the one the other SDKs use)');
  }
  const namespace = opts.namespace ?? defaultNamespace(false);
  const operation = opts.operation ?? defaultOperation(fn, strict);
  const ns = client._namespace(namespace, json);
  const op = call(() => ns.op(operation));
  const l2 = call(() => op.hasL2());

  // Run `fn` as the lease holder and give its result to the core.
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
    // The core says whether to wait for L2 (fail-closed) or not.
    const l2Write = call(() => lease.complete(bytes));
    if (l2Write !== undefined) await settle(l2Write);
    return value;
  }

  function refreshBehind(self, args, lease) {
    compute(self, args, lease).catch(() => {
      // The stale value was served; a failed refresh is retried by a later call.
    });
  }

  // The core answers a fill with the value (a Buffer), a value still good to
  // return plus a lease for a refresh due ([Buffer, lease]), or a lease.
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
  cached.healthStatus = () => health.healthStatus(ns);
  /** healthStatus plus an active PING of Redis. */
  cached.checkHealth = async () => health.checkHealth(ns);
  return cached;
}

module.exports = { makeCached };
