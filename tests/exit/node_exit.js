// Exits right after misses whose Redis writes are still behind the caller:
// naturally (argv[4] "natural") or with process.exit() at once ("exit").
// Prints one line; exits 0 with nothing on stderr, or the run failed.
const { cache } = require('../../bindings/node');

const [ns, run, how] = process.argv.slice(2);
const f = cache(async (x) => ({ x }), { namespace: ns, operation: 'f', l1: false });

(async () => {
  const values = await Promise.all([f(Number(run)), f(['a', run]), f(['b', run])]);
  f(['late', run]); // still under way at exit
  console.log('ok', values[0].x, values.length);
  if (how === 'exit') process.exit(0);
})();
