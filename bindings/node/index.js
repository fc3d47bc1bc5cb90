'use strict';
// cachekit for Node.js: `cache(fn, opts)` memoises an async function in the
// shared cachekit engine (L1 in process, Redis as L2). The Rust core decides
// everything (keys, L1, Redis, single flight, locks, fail-open); the
// JavaScript only speaks JavaScript: it encodes arguments and values as
// MessagePack, maps options, and turns the addon's answers into Promises.
//
// This file only assembles the public module; each concern has its file:
//   lib/addon.js           loading the native addon (cachekit.node), ABI check
//   lib/errors.js          CachekitError, UndecodableError; native errors converted
//   lib/options.js         client settings and per-namespace options -> the core's JSON
//   lib/names.js           default namespace and operation names
//   lib/args.js            the call's arguments as MessagePack (the core derives the key)
//   lib/values.js          a value as MessagePack bytes (dates as marker maps)
//   lib/reader.js          the exact reader of cached bytes
//   lib/types.js           Float, Uuid, Timestamp, Ext: types with a protocol form
//   lib/msgpack.js         the MessagePack writer both share (msgpackr, ext types, limits)
//   lib/cached.js          the cached function: hit, miss, lease, refresh behind
//   lib/namespace.js       Namespace: explicit get/set/delete
//   lib/client.js          Client, createClient
//   lib/default-client.js  the default client: cache(), metrics(), flush()
//   lib/pool.js            which thread an L2 call runs on (libuv pool or runtime)
//   lib/undecodable.js     an entry that cannot be read: discarded, never returned
//   lib/health.js          health, stats and metrics
//   lib/exit.js            writes behind callers flushed before the process exits

const { native } = require('./lib/addon');
const { CachekitError, UndecodableError } = require('./lib/errors');
const { Float, Uuid, Timestamp, Ext } = require('./lib/types');
const { encodeArgs } = require('./lib/args');
const { encodeValue } = require('./lib/values');
const { decodeValue } = require('./lib/reader');
const { Client, createClient } = require('./lib/client');
const { Namespace } = require('./lib/namespace');
const { cache, metrics, flush } = require('./lib/default-client');

/** A float64 on the wire even when integral (see Float). */
const float = (v) => new Float(v);
/** A UUID argument, equal to Python's uuid.UUID in keys. */
const uuid = (s) => new Uuid(s);

module.exports = {
  cache,
  createClient,
  Client,
  Namespace,
  CachekitError,
  UndecodableError,
  Float,
  Uuid,
  Timestamp,
  Ext,
  float,
  uuid,
  metrics,
  flush,
  coreVersion: native.coreVersion(),
  // For tests and tools that need the exact bytes.
  encodeArgs,
  encodeValue,
  decodeValue,
};
