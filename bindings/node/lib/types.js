'use strict';
// The JavaScript types with a protocol form of their own: a float that stays
// a float (Float), a UUID (Uuid), an instant finer than a Date (Timestamp),
// and an ext value no type is known for (Ext). msgpack.js writes them;
// reader.js gives Ext back.

const { CachekitError } = require('./errors');

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

/** An ext value this reader has no type for, kept as its type and bytes. */
class Ext {
  constructor(type, data) {
    this.type = type;
    this.data = data;
  }
}

module.exports = { Raw, Float, Uuid, Timestamp, Ext };
