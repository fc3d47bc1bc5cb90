'use strict';
// The behaviour of cache(fn, opts) against a real Redis.

const test = require('node:test');
const assert = require('node:assert/strict');
const ck = require('..');
const { redisUrl, uniq, raw, sleep, counted } = require('./helpers');

const client = ck.createClient({ redisUrl: redisUrl() });
const redis = raw();
test.after(async () => {
  await client.flush(5000);
  redis.disconnect();
});

function cached(impl, opts = {}) {
  const fn = counted(impl);
  const c = client.cache(fn, { namespace: uniq('node'), operation: 'op', ...opts });
  return { fn, c };
}

test('a miss runs the function, a repeat is a hit that does not', async () => {
  const { fn, c } = cached(async (id) => ({ id, name: `user-${id}` }));
  assert.deepEqual(await c(42), { id: 42, name: 'user-42' });
  assert.deepEqual(await c(42), { id: 42, name: 'user-42' });
  assert.equal(fn.calls, 1);
  await c(43);
  assert.equal(fn.calls, 2, 'other arguments are another entry');
});

test('a hit from Redis (L1 off) returns the stored value without recomputing', async () => {
  const { fn, c } = cached(async (id) => ({ id, tags: ['a', 'b'], score: 1.5 }), { l1: false });
  const first = await c(1);
  await client.flush(5000);
  assert.equal(await redis.exists(c.key(1)), 1, 'the entry is in Redis');
  assert.deepEqual(await c(1), first);
  assert.equal(fn.calls, 1);
});

test('1, 1.0 and float(1) are the same key', () => {
  const { c } = cached(async (x) => String(x));
  assert.equal(c.key(1), c.key(1.0));
  assert.equal(c.key(1), c.key(ck.float(1)));
});

test('1 and "1" are different keys', () => {
  const { c } = cached(async (x) => String(x));
  assert.notEqual(c.key(1), c.key('1'));
});

test('a call with float(1) hits the entry of a call with 1', async () => {
  const { fn, c } = cached(async (x) => String(x));
  await c(1);
  await c(ck.float(1));
  assert.equal(fn.calls, 1);
});

test('keys follow argument values, not object key order', async () => {
  const { c } = cached(async () => 0);
  assert.equal(c.key({ a: 1, b: 2 }), c.key({ b: 2, a: 1 }));
  assert.equal(c.key(new Set([3, 1, 2])), c.key(new Set([1, 2, 3])));
  assert.notEqual(c.key([1, 2]), c.key([2, 1]));
  assert.equal(c.key(new Date('2024-01-01T00:00:00Z')), c.key(new Date('2024-01-01T05:30:00+05:30')));
});

test('an argument without an exact form is refused before any lookup', async () => {
  const { fn, c } = cached(async () => 0);
  await assert.rejects(c(2 ** 60), { name: 'CachekitError', code: 'ENCODE', message: /BigInt/ });
  await assert.rejects(c(2n ** 64n), { code: 'ENCODE' });
  await assert.rejects(c(NaN), { code: 'ENCODE' });
  await assert.rejects(c(() => 1), { code: 'ENCODE' });
  await assert.rejects(c(new Date(NaN)), { code: 'ENCODE' });
  assert.equal(fn.calls, 0);
});

test('entries expire after their TTL and are recomputed', async () => {
  const { fn, c } = cached(async () => Math.random(), { ttl: 1 });
  const a = await c();
  await client.flush(5000);
  const ttl = await redis.pttl(c.key());
  assert.ok(ttl > 0 && ttl <= 1000, `Redis TTL is the option's (${ttl} ms)`);
  assert.equal(await c(), a);
  await sleep(1500);
  const b = await c();
  assert.equal(fn.calls, 2, 'recomputed after expiry');
  assert.notEqual(a, b);
});

test('namespaces keep entries apart; naming both sides shares them', async () => {
  const op = 'shared';
  const nsA = uniq('ns-a');
  const nsB = uniq('ns-b');
  const fa = counted(async () => 'A');
  const fb = counted(async () => 'B');
  const a = client.cache(fa, { namespace: nsA, operation: op });
  const b = client.cache(fb, { namespace: nsB, operation: op });
  assert.equal(await a(1), 'A');
  assert.equal(await b(1), 'B');
  const a2 = client.cache(counted(async () => 'other'), { namespace: nsA, operation: op, l1: false });
  assert.equal(await a2(1), 'A', 'a second function under the same names reads the entry');
});

test('default names come from the file and the function name', () => {
  async function getUser() {}
  const c = client.cache(getUser);
  assert.equal(c.operation, 'getUser');
  assert.match(c.namespace, /cache\.test$/);
});

test('an anonymous function needs an explicit operation name', () => {
  assert.throws(() => client.cache(async () => {}), /opts.operation/);
});

test('invalidate deletes one entry everywhere; clear deletes the function', async () => {
  const { fn, c } = cached(async (x) => x * 2);
  await c(1);
  await c(2);
  assert.equal(await c.invalidate(1), true);
  assert.equal(await c.invalidate(1), false, 'gone already');
  await c(1);
  await c(2);
  assert.equal(fn.calls, 3, 'only the invalidated entry was recomputed');
  await client.flush(5000);
  const deleted = await c.clear();
  assert.equal(deleted, 2);
  await c(2);
  assert.equal(fn.calls, 4);
});

test('a rejection propagates and is never cached', async () => {
  let fail = true;
  const { fn, c } = cached(async () => {
    if (fail) throw new RangeError('upstream down');
    return 'ok';
  });
  await assert.rejects(c(), { name: 'RangeError', message: 'upstream down' });
  await client.flush(5000);
  assert.equal(await redis.exists(c.key()), 0, 'nothing stored');
  fail = false;
  assert.equal(await c(), 'ok');
  assert.equal(fn.calls, 2);
});

test('a sync function is cached as well', async () => {
  const c = client.cache((x) => x + 1, { namespace: uniq('sync'), operation: 'inc' });
  assert.equal(await c(1), 2);
});

test('a sync throw is a rejection', async () => {
  const t = client.cache(
    () => {
      throw new Error('sync boom');
    },
    { namespace: uniq('sync'), operation: 'boom' },
  );
  await assert.rejects(t(), /sync boom/);
});

test('50 concurrent calls of a cold key run the function once', async () => {
  for (const l1 of [true, false]) {
    const { fn, c } = cached(
      async (x) => {
        await sleep(50);
        return { x, at: Date.now() };
      },
      { l1 },
    );
    const results = await Promise.all(Array.from({ length: 50 }, () => c('cold')));
    assert.equal(fn.calls, 1, `l1=${l1}: one computation`);
    for (const r of results) assert.deepEqual(r, results[0]);
  }
});

test('waiters of a fill that rejects take over; the error is not shared as a value', async () => {
  let n = 0;
  const { fn, c } = cached(async () => {
    n += 1;
    await sleep(30);
    if (n === 1) throw new Error('first fails');
    return 'second';
  });
  const results = await Promise.allSettled(Array.from({ length: 5 }, () => c()));
  // Only the caller whose computation failed sees the error.
  const rejected = results.filter((r) => r.status === 'rejected');
  assert.equal(rejected.length, 1);
  assert.equal(rejected[0].reason.message, 'first fails');
  assert.ok(results.filter((r) => r.status === 'fulfilled').every((r) => r.value === 'second'));
  assert.ok(fn.calls >= 2);
});

test('a waiter is woken when the holder rejects, well before fillWaitMs, and computes', async () => {
  const fillWaitMs = 10000;
  let started;
  const running = new Promise((resolve) => {
    started = resolve;
  });
  let gate;
  const released = new Promise((resolve) => {
    gate = resolve;
  });
  const { fn, c } = cached(
    async () => {
      if (fn.calls === 1) {
        started();
        await released;
        throw new Error('holder fails');
      }
      return 'waiter computed';
    },
    { fillWaitMs },
  );
  const holder = c();
  await running;
  let wokenAt = 0;
  const waiter = c().then((v) => {
    wokenAt = Date.now();
    return v;
  });
  // Handshake: reject only once the core counts the waiter as waiting.
  const deadline = Date.now() + fillWaitMs;
  while (c.healthStatus().stats.fill_waits < 1) {
    assert.ok(Date.now() < deadline, 'the second caller never waited for the fill');
    await sleep(2);
  }
  const abortedAt = Date.now();
  gate();
  await assert.rejects(holder, { message: 'holder fails' });
  assert.equal(await waiter, 'waiter computed');
  assert.equal(fn.calls, 2, 'the waiter took over and computed');
  assert.ok(wokenAt >= abortedAt, 'the waiter returned after the abort');
  assert.ok(wokenAt - abortedAt < fillWaitMs / 2, `woken ${wokenAt - abortedAt} ms after the abort: not by it (fillWaitMs ${fillWaitMs})`);
  assert.equal(c.healthStatus().stats.fill_wait_timeouts, 0, 'no wait ran out');
});

test('values round-trip: nested data, bytes, BigInt, Dates as markers', async () => {
  const when = new Date('2024-01-01T12:30:45.123Z');
  const value = {
    s: 'héllo ✓',
    n: -7,
    f: 2.5,
    big: 2n ** 63n,
    nil: null,
    list: [1, 'two', [3]],
    bytes: Buffer.from([0, 1, 2]),
    when,
    nested: { deep: { deeper: true } },
  };
  const { c } = cached(async () => value, { l1: false });
  await c();
  await client.flush(5000);
  const back = await c();
  assert.deepEqual(back, { ...value, bytes: Buffer.from([0, 1, 2]) });
  assert.ok(back.when instanceof Date);
  assert.equal(back.when.getTime(), when.getTime());
});

test('a null result is returned but not cached', async () => {
  const { fn, c } = cached(async () => null);
  assert.equal(await c(), null);
  assert.equal(await c(), null);
  assert.equal(fn.calls, 2);
});

test('an undecodable cached value is discarded and recomputed, never returned', async () => {
  const ns = uniq('bad');
  // Written through a namespace handle: valid MessagePack, a bad marker.
  const writer = client.namespace(ns, { l1: false });
  const bad = { __datetime__: true, value: 'not a date' };
  await writer.set('op', [1], bad);
  await client.flush(5000);
  const fn = counted(async () => 'fresh');
  const c = client.cache(fn, { namespace: ns, operation: 'op', l1: false });
  assert.equal(await c(1), 'fresh');
  assert.equal(fn.calls, 1);
  assert.ok(c.healthStatus().stats.corrupt_entries >= 1, 'counted as corrupt');
});

test('corrupt bytes in Redis are a miss, recomputed', async () => {
  const { fn, c } = cached(async () => 'good', { l1: false });
  await redis.set(c.key(), Buffer.from('garbage, not an envelope'));
  assert.equal(await c(), 'good');
  assert.equal(fn.calls, 1);
});

// A namespace whose entry for 7 was written encrypted with keyA.
async function encryptedEntry() {
  const ns = uniq('enc');
  const keyA = 'a'.repeat(64);
  const fa = counted(async (id) => ({ id, secret: 'ssn-123' }));
  const a = client.cache(fa, { namespace: ns, operation: 'op', encryption: { masterKey: keyA }, l1: false });
  const first = await a(7);
  await client.flush(5000);
  return { ns, fa, a, first };
}

test('encryption: a value round-trips and Redis holds only ciphertext', async () => {
  const { fa, a, first } = await encryptedEntry();
  assert.deepEqual(first, { id: 7, secret: 'ssn-123' });
  const stored = await redis.getBuffer(a.key(7));
  assert.ok(stored && !stored.includes(Buffer.from('ssn-123')), 'Redis holds ciphertext');
  assert.deepEqual(await a(7), { id: 7, secret: 'ssn-123' });
  assert.equal(fa.calls, 1);
  assert.equal(a.healthStatus().features_enabled.encryption, true);
});

test('encryption: a reader with another master key recomputes', async () => {
  const { ns } = await encryptedEntry();
  const keyB = 'b'.repeat(64);
  const fb = counted(async (id) => ({ id, secret: 'recomputed' }));
  const b = client.cache(fb, { namespace: ns, operation: 'op', encryption: true, masterKey: keyB, l1: false });
  assert.deepEqual(await b(7), { id: 7, secret: 'recomputed' }, 'never the other key\'s plaintext, never an error');
  assert.equal(fb.calls, 1);
});

test('encryption without a master key is a configuration error', () => {
  assert.throws(() => client.cache(async () => 0, { namespace: uniq('enc'), operation: 'x', encryption: true }), {
    code: 'ENCRYPTION',
  });
});

test('an unknown option is refused with the known names', () => {
  assert.throws(() => client.cache(async () => 0, { namespace: 'x', operation: 'y', tll: 5 }), /unknown option "tll".*ttl/);
});

test('an unknown client setting is refused with the known names', () => {
  assert.throws(() => ck.createClient({ redisURL: 'x' }), /unknown client setting "redisURL".*redisUrl/);
});

test('an option with a value out of range is a CONFIG error', () => {
  assert.throws(() => client.cache(async () => 0, { namespace: 'x', operation: 'y', ttl: -1 }), { code: 'CONFIG' });
});

// A cached function with a breaker option, called once.
async function healthyCache() {
  const { c } = cached(async () => 1, { breaker: { failureThreshold: 3 } });
  await c();
  return c;
}

test('healthStatus: the namespace, its backend and its reliability state, without I/O', async () => {
  const c = await healthyCache();
  const h = c.healthStatus();
  assert.equal(h.namespace, c.namespace);
  assert.equal(h.backend, 'redis');
  assert.equal(h.circuit_breaker.state, 'CLOSED');
  for (const k of ['circuit_breaker', 'backpressure', 'adaptive_timeout', 'features_enabled']) assert.ok(k in h, k);
});

test('checkHealth adds an active PING of Redis', async () => {
  const c = await healthyCache();
  const full = await c.checkHealth();
  assert.equal(full.system.status, 'healthy');
  assert.equal(full.system.redis_connection, 'active');
});

test('client.metrics() is the Prometheus text of its caches', async () => {
  await healthyCache();
  assert.match(client.metrics(), /redis_cache_operations_total/);
});

test('Namespace: get is undefined until set stores a value', async () => {
  const ns = client.namespace(uniq('kv'));
  assert.equal(await ns.get('user', [1]), undefined);
  await ns.set('user', [1], { name: 'ada' }, 60);
  assert.deepEqual(await ns.get('user', [1]), { name: 'ada' });
});

test('Namespace: delete removes the entry and says it existed', async () => {
  const ns = client.namespace(uniq('kv'));
  await ns.set('user', [1], { name: 'ada' }, 60);
  assert.equal(await ns.delete('user', [1]), true);
  assert.equal(await ns.get('user', [1]), undefined);
});

function interopUser() {
  const ns = uniq('interop').toLowerCase();
  const c = client.cache(async (id) => ({ name: 'alice', age: 30 }), { namespace: ns, operation: 'get_user', interop: true });
  return { ns, c };
}

test('interop format: the plain protocol key', () => {
  const { ns, c } = interopUser();
  assert.match(c.key(42), new RegExp(`^${ns}:get_user:[0-9a-f]{64}$`));
});

test('interop format: the value is stored as canonical MessagePack', async () => {
  const { c } = interopUser();
  await c(42);
  await client.flush(5000);
  const stored = await redis.getBuffer(c.key(42));
  assert.equal(stored.toString('hex'), '82a36167651ea46e616d65a5616c696365', 'canonical MessagePack, keys sorted');
});

test('interop format: a namespace in upper case is INVALID_KEY', () => {
  assert.throws(() => client.cache(async () => 0, { namespace: 'Users', operation: 'x', interop: true }), { code: 'INVALID_KEY' });
});

test('interop format: an operation the core refuses throws when the function is cached, with its message', () => {
  assert.throws(() => client.cache(async () => 0, { namespace: 'users', operation: 'getUser', interop: true }), (e) => {
    assert.equal(e.code, 'INVALID_KEY');
    assert.match(e.message, /getUser/);
    return true;
  });
  assert.throws(() => client.cache(async () => 0, { namespace: uniq('node'), operation: 'bad:op' }), { code: 'INVALID_KEY' });
});

test('interop format: the namespace must be given (none from the file)', () => {
  assert.throws(() => client.cache(async function getUser() { return 0; }, { interop: true }), (e) => {
    assert.equal(e.code, 'CONFIG');
    assert.match(e.message, /explicit opts\.namespace/);
    return true;
  });
  const envelope = client.cache(async function getUser() { return 0; }, {});
  assert.match(envelope.namespace, /cache\.test/, 'the envelope format keeps the file as its default');
});

for (const [setting, value, variable] of [
  ['keyPrefix', 'pfx', 'CACHEKIT_KEY_PREFIX'],
  ['tenantId', 'acme', 'CACHEKIT_TENANT_ID'],
]) {
  test(`interop format: a client ${setting} is refused when the function is cached, naming ${variable}`, () => {
    const scoped = ck.createClient({ redisUrl: redisUrl(), [setting]: value });
    assert.throws(() => scoped.cache(async () => 0, { namespace: 'users', operation: 'get_user', interop: true }), (e) => {
      assert.equal(e.code, 'CONFIG');
      assert.match(e.message, new RegExp(variable));
      return true;
    });
    assert.throws(() => scoped.namespace('users', { interop: true }), { code: 'CONFIG' });
    scoped.cache(async () => 0, { namespace: 'users', operation: 'get_user' }); // the envelope format takes it
  });

  test(`interop format: ${variable} in the environment is refused when the function is cached`, () => {
    process.env[variable] = value;
    try {
      const scoped = ck.createClient({ redisUrl: redisUrl() });
      assert.throws(() => scoped.cache(async () => 0, { namespace: 'users', operation: 'get_user', interop: true }), (e) => {
        assert.equal(e.code, 'CONFIG');
        assert.match(e.message, new RegExp(variable));
        return true;
      });
    } finally {
      delete process.env[variable];
    }
  });
}

test('a closed client lands its writes, then its functions reject with CLOSED and write nothing', async () => {
  const own = ck.createClient({ redisUrl: redisUrl() });
  const fn = counted(async (x) => ({ x }));
  const f = own.cache(fn, { namespace: uniq('closing'), operation: 'op' });
  assert.deepEqual(await f(1), { x: 1 });
  assert.equal(await own.close(), 0);
  await assert.rejects(f(2), (e) => e.code === 'CLOSED');
  await assert.rejects(f(1), (e) => e.code === 'CLOSED', 'an L1 hit is refused too');
  assert.equal(fn.calls, 1, 'nothing ran after close');
  assert.equal(await own.close(), 0, 'twice is harmless');
});
