'use strict';
// A cached entry whose bytes cannot be read as a value is never returned and
// never an error: the core is told (it counts it and deletes the entry
// everywhere) and the caller answers as on a miss.

const { decodeValue } = require('./reader');

/** What tryDecode returns for an entry it could not read. */
const UNDECODABLE = Symbol('undecodable');

/** The value of `buf`, or UNDECODABLE (and the entry discarded). */
function tryDecode(buf, op, a) {
  try {
    return decodeValue(buf);
  } catch (e) {
    // Never a wrong value: the entry is deleted everywhere and recomputed.
    op.discard(a, `the Node wrapper could not decode the cached value: ${e.message}`);
    return UNDECODABLE;
  }
}

module.exports = { UNDECODABLE, tryDecode };
