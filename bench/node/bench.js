'use strict';
// cachekit (Node) side by side with what a Node user would pick instead:
//   cache-manager 7 (Keyv tiers: an in-process Map in front of @keyv/redis),
//   and hand-written ioredis GET/SET + msgpackr as the raw baseline.
// The contenders run alternately in the same process, several rounds; we
// report medians of per-round means and ratios, never absolute promises.
//
//   BENCH_REDIS_URL=redis://127.0.0.1:6379 node bench/node/bench.js
// (bench/node/run.sh starts a throwaway Redis and uses the release addon.)

const { performance } = require('node:perf_hooks');
const { createCache } = require('cache-manager');
const { Keyv } = require('keyv');
const KeyvRedis = require('@keyv/redis').default;
const Redis = require('ioredis');
const { pack, unpack } = require('msgpackr');
const ck = require('../../bindings/node');

const url = process.env.BENCH_REDIS_URL;
if (!url) throw new Error('BENCH_REDIS_URL is not set (bench/node/run.sh sets it)');
const ROUNDS = Number(process.env.BENCH_ROUNDS || 7);
const OPS = Number(process.env.BENCH_OPS || 2000);
const TTL_S = 600;

const small = 'v';
const user = {
  id: 42,
  name: 'Ada Lovelace',
  email: 'ada@example.com',
  roles: ['admin', 'editor'],
  active: true,
  score: 98.5,
  address: { city: 'London', zip: 'NW1' },
  tags: ['a', 'b', 'c', 'd'],
};

const run = Date.now().toString(36);
let seq = 0;

async function main() {
  const client = ck.createClient({ redisUrl: url });
  const raw = new Redis(url);
  // cache-manager: one tier (Redis), and two tiers (memory, then Redis).
  const cmRedis = createCache({ stores: [new Keyv({ store: new KeyvRedis(url), namespace: `cm-${run}` })] });
  const cmTiered = createCache({ stores: [new Keyv(), new Keyv({ store: new KeyvRedis(url), namespace: `cmt-${run}` })] });

  const load = (v) => async () => v;
  const ckFn = (opts, v) => client.cache(load(v), { namespace: `bench-${run}`, operation: `op${++seq}`, ttl: TTL_S, ...opts });
  // A cache-manager user builds the key by hand.
  const cmFn = (cm, v, name) => (id) => cm.wrap(`${name}:${id}`, load(v), TTL_S * 1000);
  const rawFn = (v, name) => async (id) => {
    const key = `raw-${run}:${name}:${id}`;
    const hit = await raw.getBuffer(key);
    if (hit !== null) return unpack(hit);
    const value = await load(v)();
    await raw.set(key, pack(value), 'EX', TTL_S);
    return value;
  };

  const scenarios = [
    {
      name: 'L1 hit (small value)',
      contenders: {
        cachekit: ckFn({}, small),
        'cache-manager (memory+redis)': cmFn(cmTiered, small, 'l1'),
      },
      arg: () => 1,
    },
    {
      name: 'L1 hit (object payload)',
      contenders: {
        cachekit: ckFn({}, user),
        'cache-manager (memory+redis)': cmFn(cmTiered, user, 'l1o'),
      },
      arg: () => 1,
    },
    {
      name: 'L2 hit, L1 off (small value)',
      contenders: {
        cachekit: ckFn({ l1: false }, small),
        'cache-manager (redis)': cmFn(cmRedis, small, 'l2'),
        'raw ioredis+msgpackr': rawFn(small, 'l2'),
      },
      arg: () => 1,
    },
    {
      name: 'L2 hit, L1 off (object payload)',
      contenders: {
        cachekit: ckFn({ l1: false }, user),
        'cache-manager (redis)': cmFn(cmRedis, user, 'l2o'),
        'raw ioredis+msgpackr': rawFn(user, 'l2o'),
      },
      arg: () => 1,
    },
    {
      // 64 different keys, 32 calls in flight: no coalescing, pipelining.
      name: 'L2 hit, L1 off, 32 concurrent keys (object payload)',
      concurrency: 32,
      contenders: {
        cachekit: ckFn({ l1: false }, user),
        'cache-manager (redis)': cmFn(cmRedis, user, 'l2c'),
        'raw ioredis+msgpackr': rawFn(user, 'l2c'),
      },
      arg: (i) => i % 64,
    },
    {
      name: 'miss then store (object payload)',
      contenders: {
        cachekit: ckFn({}, user),
        'cache-manager (memory+redis)': cmFn(cmTiered, user, 'miss'),
        'raw ioredis+msgpackr': rawFn(user, 'miss'),
      },
      arg: (i, round, who) => `${who}-${round}-${i}`, // a new key every call
    },
  ];

  const results = [];
  for (const sc of scenarios) {
    const names = Object.keys(sc.contenders);
    // Warm up: fill the entries, let the JIT settle.
    for (const n of names) for (let i = 0; i < 300; i++) await sc.contenders[n](sc.arg(i, 'warm', n));
    await client.flush(5000);
    const samples = Object.fromEntries(names.map((n) => [n, []]));
    for (let r = 0; r < ROUNDS; r++) {
      // Alternate the order every round, so neither side always goes first.
      const order = r % 2 === 0 ? names : [...names].reverse();
      for (const n of order) {
        const f = sc.contenders[n];
        const c = sc.concurrency || 1;
        const t0 = performance.now();
        for (let i = 0; i < OPS; i += c) {
          if (c === 1) await f(sc.arg(i, r, n));
          else await Promise.all(Array.from({ length: c }, (_, j) => f(sc.arg(i + j, r, n))));
        }
        samples[n].push(((performance.now() - t0) * 1000) / OPS);
      }
      await client.flush(5000);
    }
    const med = Object.fromEntries(names.map((n) => [n, median(samples[n])]));
    results.push({ scenario: sc.name, med });
    const base = med.cachekit;
    console.log(`\n${sc.name}  (${ROUNDS} rounds x ${OPS} ops, median us/op)`);
    for (const n of names) {
      const ratio = n === 'cachekit' ? '' : `   cachekit is ${(med[n] / base).toFixed(2)}x faster`;
      console.log(`  ${n.padEnd(30)} ${med[n].toFixed(2).padStart(9)} us${ratio}`);
    }
  }
  if (process.env.BENCH_JSON) require('node:fs').writeFileSync(process.env.BENCH_JSON, JSON.stringify({ rounds: ROUNDS, ops: OPS, results }, null, 2));
  await client.flush(5000);
  raw.disconnect();
  await cmRedis.disconnect();
  await cmTiered.disconnect();
}

function median(xs) {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
