'use strict';
// Loading the native addon (cachekit.node, the napi-rs build of src/lib.rs):
// from the package directory, or from CACHEKIT_NODE_ADDON. The JavaScript
// and the addon must agree on the addon's ABI; a mismatch is refused at
// load, never found later as a missing method.

const path = require('node:path');

const ADDON_ABI = 1;

function loadAddon() {
  const file = process.env.CACHEKIT_NODE_ADDON || path.join(__dirname, '..', 'cachekit.node');
  let addon;
  try {
    addon = require(file);
  } catch (e) {
    throw new Error(
      `cachekit: cannot load the native addon ${file}: ${e.message}. ` +
        'Build it with bindings/node/ci.sh (cargo build -p cachekit-node, copied to cachekit.node), ' +
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
