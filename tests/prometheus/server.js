'use strict';
// The Node.js process of tests/prometheus/run.sh: the core's metrics served
// by a node:http handler at /metrics, as a Node service serves its own, while
// a workload runs through cached functions against CACHEKIT_REDIS_URL.
//
//   node server.js PORT NAMESPACE
//
// NAMESPACE (L1 on) and NAMESPACE-l2 (L1 off): misses, fills, sets, L1 and L2
// hits and deletes every round, 4 rounds a second. Stops by itself after
// CACHEKIT_PROM_LIFETIME seconds (default 240).

const http = require('node:http');
const path = require('node:path');
const { createClient } = require(path.join(__dirname, '..', '..', 'bindings', 'node'));

const [port, ns] = [Number(process.argv[2]), process.argv[3]];
const lifetime = Number(process.env.CACHEKIT_PROM_LIFETIME || 240);

const client = createClient({ redisUrl: process.env.CACHEKIT_REDIS_URL });
const square = async (n) => n * n;
const f = client.cache(square, { namespace: ns, operation: 'square', ttl: 60 });
const g = client.cache(square, { namespace: `${ns}-l2`, operation: 'square', ttl: 60, l1: false });

async function workload() {
  for (let r = 0; ; r++) {
    for (let i = 0; i < 5; i++) {
      await f(r * 5 + i); // miss: fill, set
      await f(r * 5 + i); // L1 hit
    }
    await f.invalidate(r * 5); // delete
    for (let i = 0; i < 3; i++) await g(i); // L2 hits after the first round
    await g(1000 + r);
    await g.invalidate(1000 + r);
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
}

const server = http.createServer((req, res) => {
  if (req.method !== 'GET' || new URL(req.url, 'http://x').pathname !== '/metrics') {
    res.writeHead(404).end();
    return;
  }
  res.writeHead(200, { 'Content-Type': 'text/plain; version=0.0.4; charset=utf-8' });
  res.end(client.metrics());
});
server.listen(port, '127.0.0.1', () => console.error(`node: serving /metrics on 127.0.0.1:${port}`));
workload().catch((e) => {
  console.error('node: workload failed:', e);
  process.exit(1);
});
setTimeout(() => process.exit(0), lifetime * 1000).unref();
