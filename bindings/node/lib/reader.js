'use strict';
// Reading cached values: this file's own exact MessagePack reader
// (`decodeValue`), not msgpackr's: msgpackr renames a `__proto__` key,
// throws on ext types it does not know and reads its own private ext types
// (0x72 records, 0x73 sets, ...) in data another language wrote, and long
// strings go through a TextDecoder that drops a leading BOM. The protocol's
// reader vectors pin all of these. Marker maps ({"__datetime__": true,
// "value": ...}, __date__, __time__) become Dates; the timestamp ext too.

const { UndecodableError } = require('./errors');
const { Ext } = require('./types');
const { MAX_DEPTH, setOwn } = require('./msgpack');

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

module.exports = { decodeValue };
