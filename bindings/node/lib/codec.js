'use strict';
// MessagePack for cachekit: arguments (the core canonicalises them and
// derives the key) and values (the bytes every language reads).
//
// Encoding uses msgpackr. Arguments first pass `prepareArgs`, which refuses
// what has no protocol form (an integral Number beyond 2^53, whose digits
// are already lost; BigInt beyond 64 bits; functions; invalid Dates) and
// turns a Set into the protocol's set ext (type 1). A Date goes as the
// standard timestamp ext (-1), a `Uuid` as ext 2, a `Float` as float64:
// the ext types the core knows.
//
// Values: a Date becomes the marker map {"__datetime__": true, "value":
// "<ISO 8601>"} that the Python reference writes; a Set becomes an array.
//
// Decoding is this file's own exact reader (`decodeValue`), not msgpackr's:
// msgpackr renames a `__proto__` key, throws on ext types it does not know
// and reads its own private ext types (0x72 records, 0x73 sets, ...) in data
// another language wrote, and long strings go through a TextDecoder that
// drops a leading BOM. The protocol's reader vectors pin all of these.

const { Packr, addExtension } = require('msgpackr');
const { CachekitError, UndecodableError } = require('./errors');

/** Base of the argument types msgpackr cannot express; private. */
class Raw {}

/**
 * A number that is a float on the wire (float64), even when integral.
 * Plain Numbers are integers when integral; use this where the other side
 * must see a float, or for an integral float beyond 2^53 as a key argument.
 */
class Float extends Raw {
  constructor(value) {
    super();
    if (typeof value !== 'number') throw new TypeError(`Float takes a number, got ${typeof value}`);
    this.value = value;
  }
  valueOf() {
    return this.value;
  }
}

const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/**
 * A UUID: a key argument equal to Python's uuid.UUID (the protocol's
 * lowercase hyphenated form); a value written as that string.
 */
class Uuid extends Raw {
  constructor(text) {
    super();
    if (typeof text !== 'string' || !UUID_RE.test(text)) {
      throw new TypeError(`not a UUID: ${String(text)} (want 8-4-4-4-12 hex digits)`);
    }
    this.value = text.toLowerCase();
    this.bytes = Buffer.from(this.value.replace(/-/g, ''), 'hex');
  }
  toString() {
    return this.value;
  }
  toJSON() {
    return this.value;
  }
}

const ISO_RE = /^(\d{4})-(\d\d)-(\d\d)[T ](\d\d):(\d\d):(\d\d)(?:[.,](\d{1,9}))?(Z|z|[+-]\d\d:?\d\d)?$/;

/**
 * An instant with nanosecond precision (a Date holds milliseconds, a Python
 * datetime microseconds). As a key argument it equals the Python datetime
 * of the same instant; as a value it is written as a __datetime__ marker.
 */
class Timestamp extends Raw {
  constructor(seconds, nanoseconds = 0) {
    super();
    this.seconds = BigInt(seconds);
    if (!Number.isInteger(nanoseconds) || nanoseconds < 0 || nanoseconds > 999999999) {
      throw new TypeError(`nanoseconds must be an integer in [0, 1e9), got ${nanoseconds}`);
    }
    this.nanoseconds = nanoseconds;
  }

  /** From ISO 8601 with an offset; a datetime without one is refused. */
  static fromISO(text) {
    const m = ISO_RE.exec(String(text));
    if (!m) throw new CachekitError('ENCODE', `not an ISO 8601 datetime: ${JSON.stringify(text)}`);
    if (!m[8]) {
      throw new CachekitError('ENCODE', `datetime ${text} has no UTC offset: a naive datetime has no instant, so it cannot be part of a cache key`);
    }
    const [y, mo, d, h, mi, sec] = m.slice(1, 7).map(Number);
    let offset = 0;
    if (m[8] !== 'Z' && m[8] !== 'z') {
      const o = m[8].replace(':', '');
      offset = (o[0] === '-' ? -1 : 1) * (Number(o.slice(1, 3)) * 3600 + Number(o.slice(3, 5)) * 60);
    }
    const probe = new Date(Date.UTC(y, mo - 1, d, h, mi, sec));
    if (probe.getUTCDate() !== d || probe.getUTCMonth() !== mo - 1 || h > 23 || mi > 59 || sec > 59) {
      throw new CachekitError('ENCODE', `not a valid datetime: ${text}`);
    }
    probe.setUTCFullYear(y); // Date.UTC maps years 0..99 to 1900..1999
    const seconds = BigInt(Math.floor(probe.getTime() / 1000)) - BigInt(offset);
    const nanos = m[7] ? Number(m[7].padEnd(9, '0')) : 0;
    return new Timestamp(seconds, nanos);
  }

  static fromDate(d) {
    const ms = d.getTime();
    if (Number.isNaN(ms)) throw new CachekitError('ENCODE', 'an invalid Date has no instant');
    const s = Math.floor(ms / 1000);
    return new Timestamp(s, (ms - s * 1000) * 1e6);
  }

  toDate() {
    return new Date(Number(this.seconds) * 1000 + Math.floor(this.nanoseconds / 1e6));
  }

  /** Python's isoformat() of the instant in UTC (microseconds). */
  toISOString() {
    const base = new Date(Number(this.seconds) * 1000).toISOString().slice(0, 19);
    const us = Math.floor(this.nanoseconds / 1000);
    return base + (us === 0 ? '' : '.' + String(us).padStart(6, '0')) + '+00:00';
  }
}

/** A set argument, elements already prepared; private. */
class SetArg extends Raw {
  constructor(items) {
    super();
    this.items = items;
  }
}

function extHeader(target, pos, type, len) {
  if (len < 0x100) {
    target[pos] = 0xc7;
    target[pos + 1] = len;
    target[pos + 2] = type;
    return 3;
  }
  if (len < 0x10000) {
    target[pos] = 0xc8;
    target[pos + 1] = len >> 8;
    target[pos + 2] = len & 0xff;
    target[pos + 3] = type;
    return 4;
  }
  target[pos] = 0xc9;
  new DataView(target.buffer, target.byteOffset + pos + 1, 4).setUint32(0, len);
  target[pos + 5] = type;
  return 6;
}

// One msgpackr extension for our own classes only, so that registering it
// (msgpackr's registry is process-wide) changes nothing for other users of
// msgpackr. Its `pack` writes the bytes itself and returns nothing, which
// tells msgpackr to add no ext of its own. The type number is never written;
// its decoder throws as msgpackr does for an unknown type.
const RAW_TYPE = 127;
addExtension({
  Class: Raw,
  type: RAW_TYPE,
  pack(v, alloc) {
    if (v instanceof Float) {
      const { target, targetView, position } = alloc(9);
      target[position] = 0xcb;
      targetView.setFloat64(position + 1, v.value);
    } else if (v instanceof Uuid) {
      const { target, position } = alloc(18);
      target[position] = 0xd8; // fixext 16
      target[position + 1] = 2;
      target.set(v.bytes, position + 2);
    } else if (v instanceof Timestamp) {
      // The 96-bit form of the standard timestamp ext: any instant.
      const { target, targetView, position } = alloc(15);
      target[position] = 0xc7;
      target[position + 1] = 12;
      target[position + 2] = 0xff;
      targetView.setUint32(position + 3, v.nanoseconds);
      targetView.setBigInt64(position + 7, v.seconds);
    } else if (v instanceof SetArg) {
      // The set ext's payload is one MessagePack array of the elements.
      const payload = argPackr.pack(v.items);
      const n = payload.length;
      const h = n < 0x100 ? 3 : n < 0x10000 ? 4 : 6;
      const { target, position } = alloc(h + n);
      extHeader(target, position, 1, n);
      target.set(payload, position + h);
    } else {
      throw new TypeError('unknown cachekit raw type');
    }
    return undefined;
  },
  unpack() {
    throw new Error('Unknown extension type ' + RAW_TYPE);
  },
});

const packOptions = {
  useRecords: false, // plain maps, never msgpackr's record ext
  moreTypes: false,
  encodeUndefinedAsNil: true,
  largeBigIntToFloat: false, // a BigInt beyond 64 bits throws
  useBigIntExtension: false,
  onInvalidDate() {
    throw new CachekitError('ENCODE', 'an invalid Date cannot be cached or be part of a cache key');
  },
};
const argPackr = new Packr(packOptions);
const valuePackr = new Packr(packOptions);

const I64_MIN = -(2n ** 63n);
const U64_MAX = 2n ** 64n - 1n;

function encodeError(msg) {
  return new CachekitError('ENCODE', msg);
}

function checkBigInt(v) {
  if (v < I64_MIN || v > U64_MAX) {
    throw encodeError(`integer ${v} is outside [-2^63, 2^64-1], which MessagePack (and every cachekit language) can hold`);
  }
}

const MAX_DEPTH = 512;

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

// `out[k] = x` with k === '__proto__' would set the prototype instead.
function setOwn(out, k, x) {
  if (k === '__proto__') Object.defineProperty(out, k, { value: x, enumerable: true, writable: true, configurable: true });
  else out[k] = x;
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

// ---------------------------------------------------------------- values

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

/** An ext value this reader has no type for, kept as its type and bytes. */
class Ext {
  constructor(type, data) {
    this.type = type;
    this.data = data;
  }
}

const OFFSET_RE = /(?:[zZ]|[+-]\d\d:?\d\d)$/;

// Marker values are what Python's isoformat writes (and RFC 3339); a
// datetime without an offset is taken as UTC, a date is midnight UTC, a
// time is on 1970-01-01 UTC.
function markerDate(kind, text) {
  let iso;
  if (kind === '__datetime__') iso = OFFSET_RE.test(text) ? text : text + 'Z';
  else if (kind === '__date__') iso = /^\d{4}-\d\d-\d\d$/.test(text) ? text + 'T00:00:00Z' : '';
  else iso = '1970-01-01T' + (OFFSET_RE.test(text) ? text : text + 'Z');
  // Date parses at most milliseconds: cut finer digits (floor, as Python's
  // datetime reads microseconds and we keep what a Date can hold).
  iso = iso.replace(/(\.\d{3})\d+/, '$1');
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) throw new UndecodableError(`${kind} marker holds ${JSON.stringify(text)}, not an ISO 8601 ${kind.slice(2, -2)}`);
  return d;
}

class Reader {
  constructor(buf) {
    this.buf = buf;
    this.pos = 0;
    this.view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  }

  fail(why) {
    throw new UndecodableError(`cached value is not valid MessagePack: ${why} at byte ${this.pos}`);
  }

  need(n) {
    if (this.pos + n > this.buf.length) this.fail('truncated');
  }

  str(n) {
    this.need(n);
    const { buf, pos } = this;
    this.pos = pos + n;
    if (n < 24) {
      // Short ASCII strings (most map keys) without a native call.
      let s = '';
      for (let i = pos; i < pos + n; i++) {
        const c = buf[i];
        if (c > 0x7f) return buf.toString('utf8', pos, pos + n);
        s += String.fromCharCode(c);
      }
      return s;
    }
    // Buffer#toString keeps a leading BOM (TextDecoder would drop it).
    return buf.toString('utf8', pos, pos + n);
  }

  bin(n) {
    this.need(n);
    const b = this.buf.subarray(this.pos, this.pos + n);
    this.pos += n;
    return Buffer.from(b); // a copy: the caller may keep it
  }

  u8() {
    this.need(1);
    return this.buf[this.pos++];
  }
  u16() {
    this.need(2);
    const v = this.view.getUint16(this.pos);
    this.pos += 2;
    return v;
  }
  u32() {
    this.need(4);
    const v = this.view.getUint32(this.pos);
    this.pos += 4;
    return v;
  }

  int64(signed) {
    this.need(8);
    const big = signed ? this.view.getBigInt64(this.pos) : this.view.getBigUint64(this.pos);
    this.pos += 8;
    // A Number where it is exact, a BigInt beyond 2^53.
    return big >= -9007199254740991n && big <= 9007199254740991n ? Number(big) : big;
  }

  array(n, depth) {
    const out = new Array(n);
    for (let i = 0; i < n; i++) out[i] = this.read(depth + 1);
    return out;
  }

  map(n, depth) {
    const out = {};
    for (let i = 0; i < n; i++) {
      let k = this.read(depth + 1);
      if (typeof k !== 'string') k = typeof k === 'object' && k !== null ? JSON.stringify(k) : String(k);
      setOwn(out, k, this.read(depth + 1));
    }
    if (n === 2 && typeof out.value === 'string') {
      for (const kind of ['__datetime__', '__date__', '__time__']) {
        if (out[kind] === true) return markerDate(kind, out.value);
      }
    }
    return out;
  }

  ext(n) {
    const type = this.view.getInt8(this.u8Pos());
    const data = this.bin(n);
    if (type === -1) return timestamp(data, this);
    return new Ext(type, data);
  }

  u8Pos() {
    this.need(1);
    return this.pos++;
  }

  read(depth) {
    if (depth > MAX_DEPTH) this.fail(`nesting deeper than ${MAX_DEPTH}`);
    const c = this.u8();
    if (c <= 0x7f) return c;
    if (c >= 0xe0) return c - 0x100;
    if (c <= 0x8f) return this.map(c & 0x0f, depth);
    if (c <= 0x9f) return this.array(c & 0x0f, depth);
    if (c <= 0xbf) return this.str(c & 0x1f);
    switch (c) {
      case 0xc0:
        return null;
      case 0xc2:
        return false;
      case 0xc3:
        return true;
      case 0xc4:
        return this.bin(this.u8());
      case 0xc5:
        return this.bin(this.u16());
      case 0xc6:
        return this.bin(this.u32());
      case 0xc7:
        return this.ext(this.u8());
      case 0xc8:
        return this.ext(this.u16());
      case 0xc9:
        return this.ext(this.u32());
      case 0xca: {
        this.need(4);
        const v = this.view.getFloat32(this.pos);
        this.pos += 4;
        return v;
      }
      case 0xcb: {
        this.need(8);
        const v = this.view.getFloat64(this.pos);
        this.pos += 8;
        return v;
      }
      case 0xcc:
        return this.u8();
      case 0xcd:
        return this.u16();
      case 0xce:
        return this.u32();
      case 0xcf:
        return this.int64(false);
      case 0xd0:
        this.need(1);
        return this.view.getInt8(this.pos++);
      case 0xd1: {
        this.need(2);
        const v = this.view.getInt16(this.pos);
        this.pos += 2;
        return v;
      }
      case 0xd2: {
        this.need(4);
        const v = this.view.getInt32(this.pos);
        this.pos += 4;
        return v;
      }
      case 0xd3:
        return this.int64(true);
      case 0xd4:
        return this.ext(1);
      case 0xd5:
        return this.ext(2);
      case 0xd6:
        return this.ext(4);
      case 0xd7:
        return this.ext(8);
      case 0xd8:
        return this.ext(16);
      case 0xd9:
        return this.str(this.u8());
      case 0xda:
        return this.str(this.u16());
      case 0xdb:
        return this.str(this.u32());
      case 0xdc:
        return this.array(this.u16(), depth);
      case 0xdd:
        return this.array(this.u32(), depth);
      case 0xde:
        return this.map(this.u16(), depth);
      case 0xdf:
        return this.map(this.u32(), depth);
      default:
        return this.fail(`byte 0x${c.toString(16)} starts no MessagePack value`);
    }
  }
}

function timestamp(b, r) {
  const v = new DataView(b.buffer, b.byteOffset, b.byteLength);
  let sec;
  let nsec;
  if (b.length === 4) {
    sec = v.getUint32(0);
    nsec = 0;
  } else if (b.length === 8) {
    const hi = v.getUint32(0);
    nsec = hi >>> 2;
    sec = (hi & 3) * 2 ** 32 + v.getUint32(4);
  } else if (b.length === 12) {
    nsec = v.getUint32(0);
    sec = Number(v.getBigInt64(4));
  } else {
    return r.fail(`timestamp ext of ${b.length} bytes`);
  }
  return new Date(sec * 1000 + Math.floor(nsec / 1e6));
}

/** MessagePack bytes (one document) -> a JS value. Throws UndecodableError. */
function decodeValue(buf) {
  const r = new Reader(buf);
  const v = r.read(0);
  if (r.pos !== buf.length) r.fail(`${buf.length - r.pos} trailing bytes after one document`);
  return v;
}

module.exports = {
  Float,
  Uuid,
  Timestamp,
  Ext,
  encodeArgs,
  encodeValue,
  decodeValue,
};
