'use strict';
// The MessagePack writer shared by arguments (args.js) and values
// (values.js): msgpackr with the protocol's settings (a Date as the
// standard timestamp ext -1, plain maps, no private ext types), cachekit's
// own types written as the ext types the core knows (a set as ext 1, a Uuid
// as ext 2, a Timestamp as the 96-bit timestamp ext, a Float as float64),
// and the limits both sides enforce.

const { Packr, addExtension } = require('msgpackr');
const { CachekitError } = require('./errors');
const { Raw, Float, Uuid, Timestamp } = require('./types');

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

// `out[k] = x` with k === '__proto__' would set the prototype instead.
function setOwn(out, k, x) {
  if (k === '__proto__') Object.defineProperty(out, k, { value: x, enumerable: true, writable: true, configurable: true });
  else out[k] = x;
}

module.exports = { argPackr, valuePackr, SetArg, encodeError, checkBigInt, MAX_DEPTH, setOwn };
