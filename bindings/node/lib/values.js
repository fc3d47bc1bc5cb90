'use strict';
// Values: what a cached function returned, as the MessagePack bytes every
// language reads. A Date becomes the marker map {"__datetime__": true,
// "value": "<ISO 8601>"} that the Python reference writes (a Timestamp too,
// with its microseconds); a Set becomes an array; a Uuid its string.
// reader.js reads them back.

const { CachekitError } = require('./errors');
const { Raw, Uuid, Timestamp } = require('./types');
const { valuePackr, encodeError, checkBigInt, MAX_DEPTH, setOwn } = require('./msgpack');

/** Python's datetime.isoformat() of an instant in UTC. */
function isoOf(d) {
  const s = d.toISOString(); // YYYY-MM-DDTHH:MM:SS.mmmZ
  const ms = d.getUTCMilliseconds();
  return s.slice(0, 19) + (ms === 0 ? '' : '.' + String(ms).padStart(3, '0') + '000') + '+00:00';
}

// Whether a value needs `prepareValue` (no allocation on the common path).
function needsPrepare(v, depth) {
  if (typeof v !== 'object' || v === null) return typeof v === 'bigint';
  if (depth > MAX_DEPTH) return true;
  if (ArrayBuffer.isView(v)) return false;
  if (Array.isArray(v)) {
    for (let i = 0; i < v.length; i++) if (needsPrepare(v[i], depth + 1)) return true;
    return false;
  }
  if (v instanceof Date || v instanceof Set || v instanceof Raw || v instanceof Map) return true;
  for (const k in v) if (Object.prototype.hasOwnProperty.call(v, k) && needsPrepare(v[k], depth + 1)) return true;
  return false;
}

function prepareValue(v, depth) {
  if (typeof v === 'bigint') {
    checkBigInt(v);
    return v;
  }
  if (typeof v !== 'object' || v === null || ArrayBuffer.isView(v)) return v;
  if (depth > MAX_DEPTH) throw encodeError(`the value nests deeper than ${MAX_DEPTH} levels`);
  if (v instanceof Date) {
    if (Number.isNaN(v.getTime())) throw encodeError('an invalid Date cannot be cached');
    return { __datetime__: true, value: isoOf(v) };
  }
  if (v instanceof Uuid) return v.value;
  if (v instanceof Timestamp) return { __datetime__: true, value: v.toISOString() };
  if (v instanceof Raw) return v; // Float
  if (Array.isArray(v) || v instanceof Set) {
    const src = Array.isArray(v) ? v : Array.from(v);
    const out = new Array(src.length);
    for (let i = 0; i < src.length; i++) out[i] = prepareValue(src[i], depth + 1);
    return out;
  }
  if (v instanceof Map) {
    const out = new Map();
    for (const [k, e] of v) out.set(k, prepareValue(e, depth + 1));
    return out;
  }
  const out = {};
  for (const k of Object.keys(v)) setOwn(out, k, prepareValue(v[k], depth + 1));
  return out;
}

/** A value as MessagePack bytes. */
function encodeValue(v) {
  try {
    return valuePackr.pack(needsPrepare(v, 0) ? prepareValue(v, 0) : v);
  } catch (e) {
    throw e instanceof CachekitError ? e : encodeError(`the value cannot be cached: ${e.message}`);
  }
}

module.exports = { encodeValue };
