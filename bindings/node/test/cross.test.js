'use strict';
// Entries shared with Python through Redis: a function cached in Python is
// a hit in Node without recomputing, and the other way round. Python runs
// the repository's wrapper (bindings/python) over the same core. On one
// server and, when the test command names one (CACHEKIT_TEST_CLUSTER_URL),
// on a Redis Cluster, with the URL the only change.

const test = require('node:test');
const assert = require('node:assert/strict');
const path = require('node:path');
const fs = require('node:fs');
const { execFileSync } = require('node:child_process');
const ck = require('..');
const { redisUrl, uniq, counted } = require('./helpers');

const repo = path.resolve(__dirname, '..', '..', '..');
const python = process.env.CACHEKIT_TEST_PYTHON || path.join(repo, 'build', 'venv-python', 'bin', 'python');
const target = process.env.CARGO_TARGET_DIR ? path.resolve(repo, process.env.CARGO_TARGET_DIR) : path.join(repo, 'target');
const library = process.env.CACHEKIT_LIBRARY || path.join(target, 'debug', 'libcachekit.so');

// The Python side (tests/cross/cross.py node, the one Python counterpart of
// the cross-language tests): the same names, its own function body; prints
// what it returned and how often its function ran.
const crossPy = path.join(repo, 'tests', 'cross', 'cross.py');

function runPython(ns, url) {
  for (const [what, p] of [['Python', python], ['the core library', library]]) {
    if (!fs.existsSync(p)) throw new Error(`${what} not found at ${p} (bindings/node/ci.sh builds the core; bindings/python/ci.sh makes the venv)`);
  }
  const out = execFileSync(python, [crossPy, 'node', ns], {
    env: {
      ...process.env,
      CACHEKIT_REDIS_URL: url,
      PYTHONPATH: path.join(repo, 'bindings', 'python', 'src'),
      CACHEKIT_LIBRARY: library,
    },
    encoding: 'utf8',
  });
  return JSON.parse(out.trim().split('\n').pop());
}

const targets = [['', redisUrl()]];
if (process.env.CACHEKIT_TEST_CLUSTER_URL) targets.push([' (Redis Cluster)', process.env.CACHEKIT_TEST_CLUSTER_URL]);

for (const [where, url] of targets) {
  const client = ck.createClient({ redisUrl: url });
  test.after(() => client.flush(5000));

  test(`an entry written by Python is a hit in Node${where}`, async () => {
    const ns = uniq('xlang-py');
    const py = runPython(ns, url);
    assert.equal(py.calls, 1, 'Python computed it');
    const fn = counted(async (symbol, qty) => ({ symbol, qty, by: 'node' }));
    const price = client.cache(fn, { namespace: ns, operation: 'price', ttl: 300 });
    const v = await price('ACME', 3);
    assert.equal(fn.calls, 0, 'Node did not recompute');
    assert.equal(v.by, 'python');
    assert.equal(v.qty, 3);
    assert.ok(v.at instanceof Date, 'the __datetime__ marker reads as a Date');
    assert.equal(v.at.toISOString(), '2024-01-01T12:30:45.123Z');
  });

  test(`an entry written by Node is a hit in Python${where}`, async () => {
    const ns = uniq('xlang-node');
    const at = ck.Timestamp.fromISO('2024-01-01T12:30:45.123456+00:00');
    const fn = counted(async (symbol, qty) => ({ symbol, qty, by: 'node', at }));
    const price = client.cache(fn, { namespace: ns, operation: 'price', ttl: 300 });
    await price('ACME', 3);
    assert.equal(fn.calls, 1);
    await client.flush(5000); // the write behind the call has landed
    const py = runPython(ns, url);
    assert.equal(py.calls, 0, 'Python did not recompute');
    assert.deepEqual(py.value, { symbol: 'ACME', qty: 3, by: 'node', at: '2024-01-01T12:30:45.123456+00:00' });
  });
}
