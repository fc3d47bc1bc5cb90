'use strict';
// Shared test plumbing: the Redis the suite runs against, unique names, a
// raw Redis connection for looking behind the cache, and throwaway
// redis-server processes for the fault tests.

const { spawn } = require('node:child_process');
const net = require('node:net');
const Redis = require('ioredis');

/** The suite's Redis. Missing is a failure, never a skip. */
function redisUrl() {
  const url = process.env.CACHEKIT_TEST_REDIS_URL;
  if (!url) {
    throw new Error('CACHEKIT_TEST_REDIS_URL is not set: start one with `ci/redis.sh start node` (bindings/node/ci.sh does)');
  }
  return url;
}

let counter = 0;
/** A namespace no other test (or earlier run) uses. */
function uniq(prefix) {
  counter += 1;
  return `${prefix}-${process.pid}-${Date.now().toString(36)}-${counter}`;
}

/** A raw connection to `url` (default: the suite's Redis). */
function raw(url = redisUrl()) {
  return new Redis(url, { lazyConnect: false, maxRetriesPerRequest: 1 });
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

/** A redis-server of the test's own (to kill or pause); `stop()` ends it. */
async function ownRedis() {
  const port = await freePort();
  const proc = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], {
    stdio: 'ignore',
  });
  const url = `redis://127.0.0.1:${port}`;
  const probe = raw(url);
  probe.on('error', () => {});
  // Ready: PING answered with PONG, or with an auth error (a server that
  // requires a password is up too), the readiness every launcher uses.
  for (let i = 0; ; i++) {
    try {
      if ((await probe.ping()) === 'PONG') break;
    } catch (e) {
      if (/^(NOAUTH|WRONGPASS)/.test(e.message)) break;
      if (i > 100) throw new Error(`redis-server on ${port} did not start: ${e.message}`);
    }
    await sleep(50);
  }
  probe.disconnect();
  return {
    url,
    port,
    proc,
    kill: () => proc.kill('SIGKILL'),
    pause: () => proc.kill('SIGSTOP'),
    resume: () => proc.kill('SIGCONT'),
    stop: () => {
      proc.kill('SIGCONT');
      proc.kill('SIGKILL');
    },
  };
}

/** A counting async function: `f.calls` says how often it really ran. */
function counted(impl) {
  const f = async function counted(...args) {
    f.calls += 1;
    return impl(...args);
  };
  f.calls = 0;
  return f;
}

module.exports = { redisUrl, uniq, raw, sleep, ownRedis, counted, freePort };
