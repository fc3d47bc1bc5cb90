// cachekit from Node.js: a miss, then a hit. L1-only unless
// CACHEKIT_REDIS_URL is set (then Redis is L2, shared with every language).
//   node examples/node/example.js
const { cache } = require('../../bindings/node');

let computed = 0;
const getPrice = cache(
  async (symbol, currency = 'USD') => {
    computed += 1;
    await new Promise((r) => setTimeout(r, 50)); // a slow upstream
    return { symbol, currency, price: 42.5, at: new Date() };
  },
  // Named explicitly: a Python `@cache(namespace="prices", operation="get_price")`
  // function with the same arguments shares these entries.
  { namespace: 'prices', operation: 'get_price', ttl: 300 },
);

(async () => {
  let t = process.hrtime.bigint();
  const first = await getPrice('ACME');
  const missUs = Number(process.hrtime.bigint() - t) / 1e3;
  t = process.hrtime.bigint();
  const second = await getPrice('ACME');
  const hitUs = Number(process.hrtime.bigint() - t) / 1e3;
  console.log(`miss: ${JSON.stringify(first)} (${missUs.toFixed(0)} us)`);
  console.log(`hit:  ${JSON.stringify(second)} (${hitUs.toFixed(0)} us)`);
  console.log(`computed ${computed} time(s); backend: ${getPrice.healthStatus().backend}`);
  await getPrice.invalidate('ACME');
})();
