'use strict';
// The errors cachekit throws, and the conversion of the addon's errors into
// them. The core reports an error as "[CODE] message" (CODE is the core's
// kind: ENCODE, INVALID_KEY, CONFIG, BACKEND, ...); this file only turns that
// text into a CachekitError with `code` set. Errors of the user's own
// function pass through untouched.

/** An error of cachekit; `code` names the kind (ENCODE, INVALID_KEY, ...). */
class CachekitError extends Error {
  constructor(code, message, options) {
    super(message, options);
    this.name = 'CachekitError';
    this.code = code;
  }
}

/** The bytes could be read as MessagePack but not as a value (a bad marker). */
class UndecodableError extends CachekitError {
  constructor(message) {
    super('UNDECODABLE', message);
    this.name = 'UndecodableError';
  }
}

// Native errors arrive as "[CODE] message".
const CODED = /^\[([A-Z_]+)\] /;

/** A native error as a CachekitError; anything else as it is. */
function convert(e) {
  if (e instanceof CachekitError || !(e instanceof Error)) return e;
  const m = CODED.exec(e.message);
  return m ? new CachekitError(m[1], e.message.slice(m[0].length)) : e;
}

/** Run a synchronous addon call, converting what it throws. */
function call(f) {
  try {
    return f();
  } catch (e) {
    throw convert(e);
  }
}

/** Await an addon promise, converting its rejection. */
async function settle(p) {
  try {
    return await p;
  } catch (e) {
    throw convert(e);
  }
}

module.exports = { CachekitError, UndecodableError, convert, call, settle };
