// ESM entry: the same module as require('cachekit') (index.js).
import cachekit from './index.js';

export const {
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
  coreVersion,
  encodeArgs,
  encodeValue,
  decodeValue,
} = cachekit;
export default cachekit;
