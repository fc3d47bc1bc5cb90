// `import` works as `require` does, with the same objects.
import test from 'node:test';
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import ck, { cache, createClient, float } from 'cachekit';

const require = createRequire(import.meta.url);

test('ESM import and require give the same module', async () => {
  assert.equal(ck, require('cachekit'));
  assert.equal(cache, ck.cache);
  const client = createClient({ redisUrl: null });
  let n = 0;
  const f = client.cache(async (x) => ++n + x, { namespace: 'esm', operation: 'f' });
  assert.equal(await f(1), 2);
  assert.equal(await f(float(1)), 2);
  assert.equal(n, 1);
});
