'use strict';
// The default client (settings from the CACHEKIT_* variables), made on first
// use, and the module-level functions that use it: cache(), metrics(),
// flush().

const { Client } = require('./client');
const { makeCached } = require('./cached');

let defaultClient = null;
function getDefaultClient() {
  if (defaultClient === null) defaultClient = new Client(null);
  return defaultClient;
}

/**
 * Memoise an async (or sync) function: `cache(fn, opts)` returns an async
 * function with the same arguments. See index.d.ts for the options.
 */
function cache(fn, opts) {
  const o = opts || {};
  return makeCached(o.client || getDefaultClient(), fn, o);
}

/** Prometheus text of the default client. */
const metrics = () => getDefaultClient().metrics();
/** Flush the default client's writes behind callers. */
const flush = (timeoutMs) => getDefaultClient().flush(timeoutMs);

module.exports = { getDefaultClient, cache, metrics, flush };
