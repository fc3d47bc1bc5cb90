'use strict';
// The cachekit protocol's interop vectors (tests/vectors/interop-mode.json),
// where this wrapper takes part: its argument encoding (Node-encoded
// arguments must give the protocol's key, derived by the core), its value
// encoding (the canonical bytes stored in interop mode) and its value
// reader. aad_vectors and encryption_vectors are the core's alone
// (tests/vectors.rs): no JavaScript takes part in them.

const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');
const ck = require('..');
const { redisUrl, uniq, raw } = require('./helpers');

const file = path.join(__dirname, '..', '..', '..', 'tests', 'vectors', 'interop-mode.json');
const vectors = JSON.parse(fs.readFileSync(file, 'utf8'));

// L1-only: key derivation needs no Redis.
const keyClient = ck.createClient({ redisUrl: null });

// A tagged value with no JavaScript form.
class Inexpressible extends Error {}

// Error vectors whose input JavaScript cannot hold (ck.Timestamp, the only
// way to write a datetime, refuses one without an offset); every other
// vector must be refused by the Node encoder or the core. Pinned, so a new
// vector is never silently left out.
const INEXPRESSIBLE = ['reject_naive_datetime', 'reject_naive_datetime_nested'];

// Tagged JSON -> JS values, as the file's notes ask of a JavaScript harness:
// a $float stays a float (ck.Float) even when integral, a $int is a BigInt
// unless it is a safe integer.
function untag(v) {
  if (Array.isArray(v)) return v.map(untag);
  if (v === null || typeof v !== 'object') return v;
  const keys = Object.keys(v);
  if (keys.length === 1 && keys[0].startsWith('$')) {
    const x = v[keys[0]];
    switch (keys[0]) {
      case '$int': {
        const b = BigInt(x);
        return b >= BigInt(Number.MIN_SAFE_INTEGER) && b <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(b) : b;
      }
      case '$float':
        return ck.float(Number(x)); // 'nan' -> NaN, '1e999' -> Infinity
      case '$bytes':
        return Buffer.from(x, 'hex');
      case '$uuid':
        return ck.uuid(x);
      case '$set':
        return new Set(x.map(untag));
      case '$datetime':
        // Microseconds matter (a Date holds milliseconds): ck.Timestamp.
        // It refuses a datetime without an offset, as a key must: a naive
        // datetime has no JavaScript form (Inexpressible).
        try {
          return ck.Timestamp.fromISO(x);
        } catch (e) {
          if (e instanceof ck.CachekitError && e.code === 'ENCODE' && /no UTC offset/.test(e.message)) {
            throw new Inexpressible(e.message);
          }
          throw e;
        }
      default:
        throw new Error(`unknown tag ${keys[0]}`);
    }
  }
  const out = {};
  for (const k of keys) Object.defineProperty(out, k, { value: untag(v[k]), enumerable: true, writable: true, configurable: true });
  return out;
}

const caches = new Map();
function keyOf(namespace, operation, args) {
  let c = caches.get(namespace + '\0' + operation);
  if (!c) {
    c = keyClient.cache(async () => null, { namespace, operation, interop: true });
    caches.set(namespace + '\0' + operation, c);
  }
  return c.key(...args);
}

test('the vector file has vectors', () => {
  assert.ok(vectors.key_vectors.length >= 40);
  assert.ok(vectors.error_vectors.length >= 30);
});

for (const kv of vectors.key_vectors) {
  test(`key vector ${kv.name}`, () => {
    assert.equal(keyOf(kv.namespace, kv.operation, untag(kv.args)), kv.expected_key);
  });
}

// Every expressible error vector must be refused by the Node encoder or by
// the core; the inexpressible ones are exactly the pinned list.
const inexpressible = [];
for (const ev of vectors.error_vectors) {
  let args;
  try {
    args = untag(ev.args);
  } catch (e) {
    if (!(e instanceof Inexpressible)) throw e;
    inexpressible.push(ev.name);
    continue;
  }
  test(`error vector ${ev.name} is refused`, () => {
    assert.throws(
      () => keyOf(ev.namespace ?? 't', ev.operation ?? 'op', args),
      (e) => e instanceof ck.CachekitError && ['ENCODE', 'INVALID_KEY'].includes(e.code),
      ev.error,
    );
  });
}

test('the inexpressible error vectors are the pinned list', () => {
  assert.deepEqual([...inexpressible].sort(), [...INEXPRESSIBLE].sort());
});

test('value vectors: Node values are stored as the canonical bytes (interop)', async () => {
  const client = ck.createClient({ redisUrl: redisUrl() });
  const redis = raw();
  try {
    const ns = client.namespace(uniq('values').toLowerCase(), { interop: true, l1: false });
    for (const vv of vectors.value_vectors) {
      await ns.set('v', [vv.name], untag(vv.value));
    }
    await client.flush(5000);
    for (const vv of vectors.value_vectors) {
      const stored = await redis.getBuffer(ns.key('v', [vv.name]));
      assert.equal(stored && stored.toString('hex'), vv.canonical_msgpack_hex, vv.name);
    }
  } finally {
    redis.disconnect();
  }
});

test('value vectors: the reader gives back the value', () => {
  for (const vv of vectors.value_vectors) {
    const got = ck.decodeValue(Buffer.from(vv.canonical_msgpack_hex, 'hex'));
    if (vv.name === 'datetime_sentinel_value') {
      assert.ok(got instanceof Date, vv.name);
      assert.equal(got.toISOString(), '2024-01-01T12:30:45.123Z');
      continue;
    }
    assert.deepEqual(got, plain(untag(vv.value)), vv.name);
  }
});

// What a tagged value reads back as: Floats are Numbers.
function plain(v) {
  if (v instanceof ck.Float) return v.value;
  if (v instanceof ck.Timestamp) return v.toDate();
  if (Array.isArray(v)) return v.map(plain);
  if (v && typeof v === 'object' && !Buffer.isBuffer(v)) {
    const out = {};
    for (const k of Object.keys(v)) Object.defineProperty(out, k, { value: plain(v[k]), enumerable: true, writable: true, configurable: true });
    return out;
  }
  return v;
}

test('reader accepts every accept vector', () => {
  for (const rv of vectors.reader_accept_vectors) {
    const got = ck.decodeValue(Buffer.from((rv.input_hex ?? rv.msgpack_hex), 'hex'));
    if ('value' in rv) assert.deepEqual(got, plain(untag(rv.value)), rv.name);
  }
  assert.deepEqual(ck.decodeValue(Buffer.from('81012a', 'hex')), { 1: 42 });
  const ext = ck.decodeValue(Buffer.from('d4012a', 'hex'));
  assert.ok(ext instanceof ck.Ext && ext.type === 1 && ext.data[0] === 0x2a);
});

test('reader rejects every reject vector', () => {
  for (const rv of vectors.reader_reject_vectors) {
    assert.throws(() => ck.decodeValue(Buffer.from((rv.input_hex ?? rv.msgpack_hex), 'hex')), ck.UndecodableError, rv.name);
  }
});

test('a __proto__ key is data, never the prototype', () => {
  const v = ck.decodeValue(Buffer.from('81a95f5f70726f746f5f5f01', 'hex'));
  assert.equal(Object.getPrototypeOf(v), Object.prototype);
  assert.deepEqual(Object.keys(v), ['__proto__']);
  assert.equal(Object.getOwnPropertyDescriptor(v, '__proto__').value, 1);
});
