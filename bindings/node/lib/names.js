'use strict';
// Default names of a cached function's entries: the namespace and the
// operation, the first segments of its keys (the arguments make the rest:
// args.js encodes them, the core hashes them).
//
// As the Python wrapper makes them: the namespace from the defining module
// (here its file, relative to the working directory), the operation from the
// function's name, folded into the allowed characters, so two functions
// never share entries by accident. To share entries across languages, name
// both explicitly.

const path = require('node:path');

// The package's own files, skipped when looking for the caller's.
const LIB_DIR = __dirname + path.sep;
const INDEX = path.join(__dirname, '..', 'index.js');

// `strict`: the interop format's segment rules (lower case, no ':').
function fold(s, strict, colon) {
  if (strict) {
    s = s.toLowerCase().replace(/[^a-z0-9._-]/g, '_').replace(/\.\.+/g, '.').replace(/^[._-]+/, '');
    return (s || 'default').slice(0, 64);
  }
  s = s.replace(colon ? /[^A-Za-z0-9._:-]/g : /[^A-Za-z0-9._-]/g, '_').replace(/^:+/, '');
  return (s || 'default').slice(0, 128);
}

// The file of the first stack frame outside this package.
function callerFile() {
  const keep = Error.prepareStackTrace;
  try {
    Error.prepareStackTrace = (_, frames) => frames;
    const frames = new Error().stack;
    for (const f of frames) {
      const file = f.getFileName && f.getFileName();
      if (file && file !== INDEX && !file.startsWith(LIB_DIR) && !file.startsWith('node:')) return file;
    }
  } finally {
    Error.prepareStackTrace = keep;
  }
  return 'default';
}

/**
 * The namespace of a function defined in the calling file (envelope format
 * only: interop needs one named, and cached.js refuses it without).
 */
function defaultNamespace(strict) {
  let file = callerFile();
  if (file.startsWith('file://')) file = require('node:url').fileURLToPath(file);
  const rel = path.isAbsolute(file) ? path.relative(process.cwd(), file) : file;
  const mod = rel.replace(/\.(c|m)?[jt]s$/, '').split(path.sep).filter((p) => p && p !== '..').join('.');
  return fold(mod, strict, true);
}

/** The operation of `fn`: its name; an anonymous function must be named. */
function defaultOperation(fn, strict) {
  const name = (fn.name || '').replace(/^bound /, '');
  if (!name) {
    throw new TypeError('cachekit: an anonymous function needs opts.operation (the name its entries are stored under)');
  }
  return fold(name, strict, false);
}

module.exports = { defaultNamespace, defaultOperation };
