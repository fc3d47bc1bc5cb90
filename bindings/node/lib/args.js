'use strict';
// Arguments: the call's arguments as one MessagePack array, from which the
// core derives the key (it canonicalises them and hashes; 1 and 1.0 are one
// key, object key order does not matter).
//
// `prepareArg` first refuses what has no protocol form (an integral Number
// beyond 2^53, whose digits are already lost; BigInt beyond 64 bits;
// functions; invalid Dates) and turns a Set into the protocol's set ext
// (type 1). A Date goes as the standard timestamp ext (-1), a `Uuid` as
// ext 2, a `Float` as float64: the ext types the core knows.

const { CachekitError } = require('./errors');
const { Raw } = require('./types');
const { argPackr, SetArg, encodeError, checkBigInt, MAX_DEPTH, setOwn } = require('./msgpack');

// Copy-on-write: returns `v` itself unless something inside needs rewriting.
function prepareArg(v, depth) {
  switch (typeof v) {
    case 'number':
      if (Number.isInteger(v) && !Number.isSafeInteger(v)) {
        throw encodeError(
          `integer ${v} is beyond 2^53, so its exact value is already lost: pass a BigInt, or cachekit.float(${v}) for a float`,
        );
      }
      return v;
    case 'string':
    case 'boolean':
    case 'undefined':
      return v;
    case 'bigint':
      checkBigInt(v);
      return v;
    case 'object':
      break;
    default:
      throw encodeError(`a ${typeof v} cannot be part of a cache key`);
  }
  if (v === null || v instanceof Raw || ArrayBuffer.isView(v)) return v;
  if (depth > MAX_DEPTH) throw encodeError(`arguments nest deeper than ${MAX_DEPTH} levels`);
  if (Array.isArray(v)) return prepareList(v, depth);
  if (v instanceof Date) {
    if (Number.isNaN(v.getTime())) throw encodeError('an invalid Date cannot be part of a cache key');
    return v;
  }
  if (v instanceof Set) return new SetArg(prepareList(Array.from(v), depth));
  if (v instanceof Map) {
    const out = new Map();
    for (const [k, e] of v) out.set(k, prepareArg(e, depth + 1));
    return out;
  }
  let out = null;
  for (const k of Object.keys(v)) {
    const e = v[k];
    const p = prepareArg(e, depth + 1);
    if (p !== e && out === null) out = copyObject(v);
    if (out !== null) setOwn(out, k, p);
  }
  return out === null ? v : out;
}

function prepareList(list, depth) {
  let out = null;
  for (let i = 0; i < list.length; i++) {
    const e = list[i];
    const p = prepareArg(e, depth + 1);
    if (p !== e && out === null) out = list.slice();
    if (out !== null) out[i] = p;
  }
  return out === null ? list : out;
}

function copyObject(v) {
  const out = {};
  for (const k of Object.keys(v)) setOwn(out, k, v[k]);
  return out;
}

/** The call's arguments as one MessagePack array (a Buffer). */
function encodeArgs(args) {
  let prepared = args;
  for (let i = 0; i < args.length; i++) {
    const a = args[i];
    // Fast path: primitives need no rewriting.
    if (typeof a === 'object' || typeof a === 'function' || typeof a === 'symbol' || typeof a === 'bigint' || typeof a === 'number') {
      prepared = prepareList(args, 0);
      break;
    }
  }
  try {
    return argPackr.pack(prepared);
  } catch (e) {
    throw e instanceof CachekitError ? e : encodeError(`arguments cannot be encoded: ${e.message}`);
  }
}

module.exports = { encodeArgs };
