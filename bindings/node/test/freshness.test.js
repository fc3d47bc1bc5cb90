'use strict';
// Key rotation (decryptOnlyKeys), tenant isolation under encryption,
// negative caching (negativeTtl), stale-while-revalidate and early refresh
// (earlyRefreshBeta), against a real Redis. Refreshes are observed by
// handshakes (the refreshing function is held until the test lets it go);
// the only sleeps let a configured TTL pass.

const test = require('node:test');
const assert = require('node:assert/strict');
const ck = require('..');
const { redisUrl, uniq, raw, sleep, counted } = require('./helpers');

const redis = raw();
const clients = [];
test.after(async () => {
  for (const c of clients) await c.close();
  redis.disconnect();
});

/** A client of the test Redis (another process, as far as L1 goes). */
function newClient(settings = {}) {
  const c = ck.createClient({ redisUrl: redisUrl(), ...settings });
  clients.push(c);
  return c;
}

/** A cached function of one argument returning `${label}-${id}`, on a client of its own. */
function labelled(ns, label, opts, client = newClient()) {
  const fn = counted(async (id) => `${label}-${id}`);
  const c = client.cache(fn, { namespace: ns, operation: 'get', ...opts });
  return { fn, c, client };
}

/** Resolves as `p`, or rejects with `what` if `p` takes more than 5 s. */
function answered(p, what) {
  let timer;
  const limit = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: no answer within 5 s while the refresh is held; the caller waits for the recompute`)), 5000);
  });
  return Promise.race([p, limit]).finally(() => clearTimeout(timer));
}

/** Polls `get` until `ok(value)` (bounded). */
async function until(get, ok, what) {
  const deadline = Date.now() + 5000;
  for (;;) {
    const v = await get();
    if (ok(v)) return v;
    if (Date.now() > deadline) assert.fail(`${what}: still ${String(v)} after 5 s`);
    await sleep(10);
  }
}

const stats = (c) => c.healthStatus().stats;

test('decryptOnlyKeys: the old key\'s entries are read after rotation; writes use the new key', async () => {
  const oldKey = '0a'.repeat(32);
  const newKey = '0b'.repeat(32);
  const ns = uniq('rotate');
  // L1 off everywhere: every read below is a read of Redis.
  const old = labelled(ns, 'old', { encryption: { masterKey: oldKey }, l1: false });
  const rotated = labelled(ns, 'rotated', { encryption: { masterKey: newKey, decryptOnlyKeys: [oldKey] }, l1: false });
  const newOnly = labelled(ns, 'new', { encryption: { masterKey: newKey }, l1: false });

  assert.equal(await old.c(1), 'old-1');
  await old.client.flush(5000);
  const stored = await redis.getBuffer(old.c.key(1));
  assert.ok(stored && !stored.includes(Buffer.from('old-1')), 'Redis holds ciphertext');

  assert.equal(await rotated.c(1), 'old-1', 'new key + old as decrypt-only reads the old entry');
  assert.equal(rotated.fn.calls, 0, 'a hit, not a recompute');
  assert.equal(stats(rotated.c).corrupt_entries, 0);

  assert.equal(await newOnly.c(1), 'new-1', 'the new key alone cannot read it: recomputed, no error');
  assert.equal(newOnly.fn.calls, 1);
  assert.ok(stats(newOnly.c).corrupt_entries >= 1, 'counted as undecryptable');

  // The rotated client's writes use the new key.
  assert.equal(await rotated.c(2), 'rotated-2');
  await rotated.client.flush(5000);
  assert.equal(await redis.exists(rotated.c.key(2)), 1, 'the rotated write landed');
  assert.equal(await newOnly.c(2), 'rotated-2', 'the new key alone reads the rotated client\'s write');
  assert.equal(newOnly.fn.calls, 1);
  assert.equal(await old.c(2), 'old-2', 'the old key alone does not');
  assert.equal(old.fn.calls, 2);
});

test('tenants of a client (tenantId) under encryption: keys scoped to each, neither reads the other', async () => {
  const masterKey = 'c3'.repeat(32);
  const ns = uniq('tenants');
  const open = (tenant) => labelled(ns, tenant, { encryption: true, l1: false }, newClient({ tenantId: tenant, masterKey }));
  const a = open('acme');
  const b = open('globex');
  const ka = a.c.key(7);
  const kb = b.c.key(7);
  assert.notEqual(ka, kb, 'same namespace, operation and arguments: one key per tenant');
  assert.ok(ka.includes('t:acme:') && kb.includes('t:globex:'), `${ka} / ${kb}: each scoped to its tenant`);

  assert.equal(await a.c(7), 'acme-7');
  await a.client.flush(5000);
  const rawA = await redis.getBuffer(ka);
  assert.equal(await b.c(7), 'globex-7', 'tenant B does not get A\'s value');
  assert.equal(b.fn.calls, 1);
  await b.client.flush(5000);
  const rawB = await redis.getBuffer(kb);
  assert.ok(rawA && rawB, 'both entries stored');
  assert.ok(!rawA.equals(rawB), 'two distinct entries');
  assert.ok(!rawA.includes(Buffer.from('acme-7')) && !rawB.includes(Buffer.from('globex-7')), 'ciphertext');
  assert.ok((await redis.getBuffer(ka)).equals(rawA), 'B\'s write left A\'s entry alone');

  // Each tenant's entry is still its own, in another process of it.
  const a2 = open('acme');
  const b2 = open('globex');
  assert.equal(await a2.c(7), 'acme-7');
  assert.equal(await b2.c(7), 'globex-7');
  assert.equal(a2.fn.calls + b2.fn.calls, 0, 'both hits');

  // Either tenant's ciphertext under the other's key is not readable there.
  await redis.set(kb, rawA);
  assert.equal(await b2.c(7), 'globex-7', 'B reading A\'s ciphertext: recomputed, no error');
  assert.equal(b2.fn.calls, 1);
  assert.ok(stats(b2.c).corrupt_entries >= 1);
  await redis.set(ka, rawB);
  assert.equal(await a2.c(7), 'acme-7', 'A reading B\'s ciphertext: recomputed, no error');
  assert.equal(a2.fn.calls, 1);
  assert.ok(stats(a2.c).corrupt_entries >= 1);
});

test('tenants of a namespace (encryption.tenantId): one key, and neither tenant reads what the other wrote', async () => {
  const masterKey = 'd4'.repeat(32);
  const ns = uniq('nstenants');
  const open = (tenant) => labelled(ns, tenant, { encryption: { masterKey, tenantId: tenant }, l1: false });
  const a = open('acme');
  const a2 = open('acme');
  const b = open('globex');
  const key = a.c.key(7);
  assert.equal(b.c.key(7), key, 'the namespace tenant is in the encryption (key derivation, AAD), not the key');

  assert.equal(await a.c(7), 'acme-7');
  await a.client.flush(5000);
  const rawA = await redis.getBuffer(key);
  assert.ok(rawA, 'stored');
  assert.equal(await a2.c(7), 'acme-7', 'the entry is readable by its tenant');
  assert.equal(a2.fn.calls, 0);

  // A -> B
  assert.equal(await b.c(7), 'globex-7', 'B cannot decrypt A\'s entry: its own value, no error');
  assert.equal(b.fn.calls, 1);
  assert.ok(stats(b.c).corrupt_entries >= 1, 'counted as undecryptable');
  await b.client.flush(5000);
  const rawB = await until(() => redis.getBuffer(key), (v) => v != null && !v.equals(rawA), 'B\'s entry replacing A\'s');
  assert.ok(!rawB.includes(Buffer.from('globex-7')), 'ciphertext');
  // B -> A
  assert.equal(await a.c(7), 'acme-7', 'A cannot decrypt B\'s entry: its own value, no error');
  assert.equal(a.fn.calls, 2);
  assert.ok(stats(a.c).corrupt_entries >= 1, 'counted as undecryptable');
});

test('negativeTtl: a null result is cached for negativeTtl seconds, then recomputed', async () => {
  const negativeTtl = 1;
  const ns = uniq('negative');
  const client = newClient();
  const fn = counted(async () => null);
  const c = client.cache(fn, { namespace: ns, operation: 'find', ttl: 3600, negativeTtl });
  assert.equal(await c(1), null);
  assert.equal(await c(1), null);
  assert.equal(fn.calls, 1, 'the null is cached');
  await client.flush(5000);
  const ms = await redis.pttl(c.key(1));
  assert.ok(ms > 0 && ms <= negativeTtl * 1000, `the null entry expires in ${ms} ms: negativeTtl, not the namespace's ttl`);
  const otherFn = counted(async () => null);
  const other = newClient().cache(otherFn, { namespace: ns, operation: 'find', ttl: 3600, negativeTtl, l1: false });
  assert.equal(await other(1), null);
  assert.equal(otherFn.calls, 0, 'another client gets the cached null from Redis');

  await sleep(negativeTtl * 1500); // let the negative TTL pass
  assert.equal(await c(1), null);
  assert.equal(fn.calls, 2, 'recomputed after negativeTtl');
});

test('without negativeTtl a null result is not cached (nor is undefined); other results are', async () => {
  const client = newClient();
  const fn = counted(async (x) => (x === 'found' ? { id: 1 } : x === 'undefined' ? undefined : null));
  const c = client.cache(fn, { namespace: uniq('nonull'), operation: 'find', ttl: 3600 });
  assert.equal(await c('null'), null);
  assert.equal(await c('null'), null);
  assert.equal(fn.calls, 2, 'a null runs every time');
  await c('undefined');
  await c('undefined');
  assert.equal(fn.calls, 4, 'so does undefined');
  await client.flush(5000);
  assert.equal(await redis.exists(c.key('null'), c.key('undefined')), 0, 'nothing stored');
  assert.equal(stats(c).nulls_not_cached, 4);
  assert.deepEqual(await c('found'), { id: 1 });
  assert.deepEqual(await c('found'), { id: 1 });
  assert.equal(fn.calls, 5, 'a found value is cached');
});

// A function returning how often it ran; run number 2 waits until the test
// lets it go, so the test sees what callers get while a refresh runs.
function heldSecondRun(firstRunMs = 0) {
  let release;
  const gate = new Promise((r) => {
    release = r;
  });
  const fn = counted(async () => {
    const n = fn.calls;
    if (n === 1 && firstRunMs) await sleep(firstRunMs); // an expensive computation
    if (n === 2) await gate;
    return n;
  });
  return { fn, release };
}

test('staleWhileRevalidate: past the TTL the stale value is served at once while one caller refreshes behind', async () => {
  const ttl = 1;
  const ns = uniq('swr');
  const opts = { namespace: ns, operation: 'version', ttl, staleWhileRevalidate: 60 };
  const client = newClient();
  const { fn, release } = heldSecondRun();
  try {
    const c = client.cache(fn, opts);
    assert.equal(await c(), 1);
    await client.flush(5000);

    await sleep(ttl * 1500); // past the TTL, well within the stale window
    assert.equal(await answered(c(), 'the first call past the TTL'), 1, 'the stale value');
    assert.equal(fn.calls, 2, 'a refresh started');
    assert.equal(await answered(c(), 'a call during the refresh'), 1, 'still the stale value');
    assert.equal(fn.calls, 2, 'one refresh at a time');

    release();
    await until(() => c(), (v) => v === 2, 'the refreshed value');
    assert.equal(stats(c).early_refreshes, 1);
    await client.flush(5000);
    const otherFn = counted(async () => -1);
    const other = newClient().cache(otherFn, { ...opts, l1: false });
    assert.equal(await other(), 2, 'the refresh stored the new value in Redis');
    assert.equal(otherFn.calls, 0);
  } finally {
    release();
  }
});

test('earlyRefreshBeta: a call near the end of the TTL starts a refresh behind it, before expiry', async (t) => {
  const ttl = 2;
  const ns = uniq('early');
  const opts = { namespace: ns, operation: 'report', ttl, earlyRefreshBeta: 2 };
  const client = newClient();
  // XFetch refreshes when the time left is below cost * beta * -ln(U):
  // with a first run of an eighth of the TTL and beta 2 (a scale of a
  // quarter of the TTL), calls near the end of the TTL start the refresh,
  // and one before expiry all but surely does.
  const { fn, release } = heldSecondRun((ttl * 1000) / 8);
  try {
    const c = client.cache(fn, opts);
    assert.equal(await c(), 1);
    await client.flush(5000);
    const key = c.key();

    // Call until a call starts the refresh. Every call must answer at once
    // with the cached 1: one that waited for the held run would be a
    // recompute after expiry, not a refresh ahead of it.
    const deadline = Date.now() + ttl * 1000 + 5000;
    while (fn.calls < 2) {
      assert.equal(await answered(c(), 'a call before expiry'), 1);
      if (fn.calls >= 2) break;
      if (Date.now() > deadline) assert.fail('no early refresh within the TTL');
      await sleep(10);
    }
    const left = await redis.pttl(key);
    assert.ok(left > 0, `the refresh started after the entry expired (PTTL ${left})`);
    t.diagnostic(`early refresh started with ${left} ms left of ${ttl} s`);
    assert.equal(await answered(c(), 'a call during the refresh'), 1);
    assert.equal(fn.calls, 2, 'one refresh at a time');

    release();
    await until(() => c(), (v) => v === 2, 'the refreshed value');
    assert.equal(stats(c).early_refreshes, 1);
    await client.flush(5000);
    const otherFn = counted(async () => -1);
    const other = newClient().cache(otherFn, { ...opts, l1: false });
    assert.equal(await other(), 2, 'the refresh stored the new value in Redis');
    assert.equal(otherFn.calls, 0);
  } finally {
    release();
  }
});
