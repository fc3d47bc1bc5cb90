'use strict';
// Loading the native addon (the napi-rs build of src/lib.rs), first found:
//   1. CACHEKIT_NODE_ADDON, a path;
//   2. cachekit.node in the package directory: a checkout's own build (npm
//      install there builds it; bindings/node/ci.sh too);
//   3. the platform package of this machine, cachekit-<platform>-<arch>[-<abi>]
//      (napi-rs's convention: bindings/node/npm/<platform>, installed by npm as
//      an optional dependency of the published package; it carries the
//      stripped release addon).
// The JavaScript and the addon must agree on the addon's ABI; a mismatch is
// refused at load, never found later as a missing method.

const fs = require('node:fs');
const path = require('node:path');

const ADDON_ABI = 1;

/** The name napi-rs gives this machine's package: cachekit-linux-x64-gnu, ... */
function platformPackage() {
  const { platform, arch } = process;
  let abi = '';
  if (platform === 'linux') {
    const report = typeof process.report?.getReport === 'function' ? process.report.getReport() : null;
    abi = report && report.header && report.header.glibcVersionRuntime ? '-gnu' : '-musl';
  } else if (platform === 'win32') {
    abi = '-msvc';
  }
  return `cachekit-${platform}-${arch}${abi}`;
}

function loadAddon() {
  let file = process.env.CACHEKIT_NODE_ADDON;
  if (!file) {
    const local = path.join(__dirname, '..', 'cachekit.node');
    if (fs.existsSync(local)) {
      file = local;
    } else {
      const pkg = platformPackage();
      try {
        file = require.resolve(pkg);
      } catch (e) {
        throw new Error(
          `cachekit: no native addon for this platform: the package ${pkg} is not installed ` +
            '(npm installs it with cachekit, as an optional dependency, where it exists). ' +
            'In a checkout of the repository, `npm install` in bindings/node builds the addon (it needs Rust); ' +
            'or point CACHEKIT_NODE_ADDON at a built one.',
          { cause: e },
        );
      }
    }
  }
  let addon;
  try {
    addon = require(file);
  } catch (e) {
    throw new Error(
      `cachekit: cannot load the native addon ${file}: ${e.message}. ` +
        'In a checkout, rebuild it with `npm install` (or bindings/node/ci.sh) in bindings/node; ' +
        'or point CACHEKIT_NODE_ADDON at a built one.',
      { cause: e },
    );
  }
  const abi = typeof addon.addonAbi === 'function' ? addon.addonAbi() : undefined;
  if (abi !== ADDON_ABI) {
    throw new Error(`cachekit: the native addon ${file} has ABI ${abi}, this index.js needs ${ADDON_ABI}: rebuild it (bindings/node/ci.sh)`);
  }
  return addon;
}

/** The addon, loaded once when cachekit is first required. */
const native = loadAddon();

module.exports = { native, ADDON_ABI };
