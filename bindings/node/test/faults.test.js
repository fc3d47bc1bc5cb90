'use strict';
// Real faults on a redis-server of the test's own: killed, paused, absent.

const test = require('node:test');
const assert = require('node:assert/strict');
const ck = require('..');
const { uniq, sleep, ownRedis, counted, freePort, redisUrl } = require('./helpers');

redisUrl(); // the suite runs against real Redis; without it, fail here too

test('Redis killed under a running client: calls still answer (fail-open)', async () => {
  const srv = await ownRedis();
  const client = ck.createClient({ redisUrl: srv.url, socketTimeout: 0.5, socketConnectTimeout: 0.5 });
  try {
    const fn = counted(async (x) => x * 10);
    const c = client.cache(fn, { namespace: uniq('fo'), operation: 'op', l1: false });
    assert.equal(await c(1), 10);
    await client.flush(5000);
    assert.equal(await c(1), 10);
    assert.equal(fn.calls, 1, 'served from Redis while it was up');

    srv.kill();
    await sleep(100);
    for (let i = 0; i < 10; i++) assert.equal(await c(i), i * 10, 'the function\'s result, never a cache error');
    assert.ok(fn.calls >= 10, 'computed while Redis is down');
    const h = c.healthStatus();
    assert.ok(h.stats.l2_errors + h.stats.l2_skipped > 0, 'the failures are counted');
    const check = await c.checkHealth();
    assert.equal(check.system.status, 'unhealthy');
    assert.equal(await c.invalidate(1), false, 'a delete fails open too');
  } finally {
    srv.stop();
  }
});

test('Redis absent from the start: L1 keeps working, calls answer', async () => {
  const port = await freePort();
  const client = ck.createClient({ redisUrl: `redis://127.0.0.1:${port}`, socketConnectTimeout: 0.2 });
  const fn = counted(async () => 'v');
  const c = client.cache(fn, { namespace: uniq('absent'), operation: 'op' });
  assert.equal(await c(), 'v');
  assert.equal(await c(), 'v');
  assert.equal(fn.calls, 1, 'the second call is an L1 hit');
});

test('fail-closed namespaces report the outage instead', async () => {
  const port = await freePort();
  const client = ck.createClient({ redisUrl: `redis://127.0.0.1:${port}`, socketConnectTimeout: 0.2 });
  const c = client.cache(async () => 'v', { namespace: uniq('fc'), operation: 'op', failClosed: true, l1: false });
  await assert.rejects(c(), { name: 'CachekitError', code: 'BACKEND' });
});

test('the event loop keeps running while L2 calls are in flight', async () => {
  const srv = await ownRedis();
  const client = ck.createClient({ redisUrl: srv.url });
  try {
    const c = client.cache(async (i) => i, { namespace: uniq('loop'), operation: 'op', l1: false });
    await c(-1); // connected
    srv.pause(); // every L2 call now waits for its timeout (at least 100 ms)
    let ticks = 0;
    const timer = setInterval(() => {
      ticks += 1;
    }, 2);
    let settled = false;
    const calls = Promise.all(Array.from({ length: 20 }, (_, i) => c(i))).finally(() => {
      settled = true;
    });
    while (ticks < 5) await new Promise((r) => setImmediate(r));
    const pendingWhileTicking = !settled;
    srv.resume();
    const results = await calls;
    clearInterval(timer);
    assert.ok(pendingWhileTicking, 'timers ran while the L2 calls were still in flight');
    assert.deepEqual(results, Array.from({ length: 20 }, (_, i) => i));
  } finally {
    srv.stop();
  }
});
