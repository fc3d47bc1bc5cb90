// Node reader of the packaging test: greet("world") in NAMESPACE must be a
// hit of the value Python wrote (the function does not run).
//   node read.js NAMESPACE
const { cache } = require('cachekit');

const ns = process.argv[2];
let runs = 0;
const greet = cache(
  async (name) => {
    runs += 1;
    return `computed by node for ${name}`;
  },
  { namespace: ns, operation: 'greet', ttl: 600 },
);

greet('world').then(
  (value) => {
    if (runs !== 0 || value !== 'hello from python') {
      console.error(`node: not a hit of python's value: runs=${runs} value=${JSON.stringify(value)}`);
      process.exitCode = 1;
      return;
    }
    console.log(`node: hit ${JSON.stringify(value)}`);
  },
  (e) => {
    console.error('node:', e);
    process.exitCode = 1;
  },
);
