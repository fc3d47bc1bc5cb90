'use strict';
// Namespace: explicit get/set/delete by operation name and argument list,
// for code that manages its entries itself (client.namespace(name, opts)).

const { call, settle } = require('./errors');
const { encodeArgs } = require('./args');
const { encodeValue } = require('./values');
const { optionsJson } = require('./options');
const { getL2 } = require('./pool');
const { UNDECODABLE, tryDecode } = require('./undecodable');
const health = require('./health');

/** Explicit get/set/delete by operation name and argument list. */
class Namespace {
  constructor(client, name, opts) {
    this._client = client;
    this._ns = client._namespace(name, optionsJson(opts));
    this._ops = new Map();
    this.name = name;
  }

  _op(operation) {
    let o = this._ops.get(operation);
    if (!o) {
      o = call(() => this._ns.op(operation));
      this._ops.set(operation, o);
    }
    return o;
  }

  /** The value cached for operation(args), or undefined. */
  async get(operation, args = []) {
    const op = this._op(operation);
    const a = encodeArgs(args);
    if (this._l2 === undefined) this._l2 = call(() => op.hasL2());
    const buf = await getL2(op, this._l2, a);
    if (buf === null) return undefined;
    const v = tryDecode(buf, op, a);
    return v === UNDECODABLE ? undefined : v;
  }

  /** Store `value` for operation(args); `ttl` in seconds (namespace default). */
  async set(operation, args, value, ttl) {
    const op = this._op(operation);
    const a = encodeArgs(args || []);
    const bytes = encodeValue(value);
    this._client._dirty = true;
    await settle(call(() => op.set(a, bytes, ttl === undefined ? undefined : ttl * 1000)));
  }

  /** Delete operation(args); resolves with whether it existed. */
  delete(operation, args = []) {
    return settle(this._op(operation).delete(encodeArgs(args)));
  }

  key(operation, args = []) {
    return call(() => this._op(operation).key(encodeArgs(args)));
  }

  /** Delete every entry of the namespace (or of one operation). */
  clear(operation) {
    return settle(operation === undefined ? this._ns.clear() : this._ns.clearOperation(operation));
  }

  healthStatus() {
    return health.healthStatus(this._ns);
  }

  async checkHealth() {
    return health.checkHealth(this._ns);
  }
}

module.exports = { Namespace };
