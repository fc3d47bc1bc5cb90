// The demo's Node.js reader: the same cached function (namespace "demo",
// operation "price"). Python cached the value: this call is a hit, and the
// function below does not run.
const { cache } = require('../../bindings/node');

const sku = process.argv[2] || 'sku-42';
let ran = false;
const price = cache(
  async (s) => {
    ran = true;
    return { sku: s, price: 0, currency: 'EUR', in_stock: false, computed_by: 'node' };
  },
  { namespace: 'demo', operation: 'price', ttl: 300 },
);

(async () => {
  const t = process.hrtime.bigint();
  const value = await price(sku);
  const us = Number(process.hrtime.bigint() - t) / 1e3;
  const how = ran ? 'MISS: the function ran' : 'hit (the function did not run)';
  console.log(`node    price('${sku}') ${how} in ${(us / 1000).toFixed(2).padStart(8)} ms: ${JSON.stringify(value)}`);
  process.exitCode = ran ? 1 : 0;
})();
