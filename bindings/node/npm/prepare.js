'use strict';
// npm's `prepare` in a checkout of the repository (`npm install` / `npm ci`
// in bindings/node, and `npm run build`): builds the native addon from the
// Rust source with @napi-rs/cli (debug, incremental) into cachekit.node,
// which lib/addon.js loads first. npm does not run it when it installs the
// packed packages (ci/package.sh leaves the script out of them): users get
// the prebuilt addon of their platform from the package
// cachekit-<platform> (bindings/node/npm/<platform>), with no Rust and no
// build step.
//
// CACHEKIT_NODE_SKIP_BUILD=1 skips the build (ci/package.sh builds a release
// addon itself).

const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { spawnSync } = require('node:child_process');

const here = path.resolve(__dirname, '..');
const repo = path.resolve(here, '..', '..');

function main() {
  if (process.env.CACHEKIT_NODE_SKIP_BUILD) return 0;
  if (!fs.existsSync(path.join(here, 'Cargo.toml')) || !fs.existsSync(path.join(repo, 'Cargo.toml'))) {
    return 0; // not a checkout: nothing to build
  }
  const cargo = spawnSync(process.env.CARGO || 'cargo', ['--version'], { stdio: 'ignore' });
  if (cargo.error || cargo.status !== 0) {
    console.error(
      'cachekit: building the native addon from source needs Rust (cargo): https://rustup.rs\n' +
        '  Or install the prebuilt packages instead of the checkout: ci/package.sh makes dist/node/cachekit-<version>.tgz\n' +
        '  and dist/node/cachekit-<platform>-<version>.tgz (npm install both), or set CACHEKIT_NODE_SKIP_BUILD=1\n' +
        '  and point CACHEKIT_NODE_ADDON at a built addon.',
    );
    return 1;
  }
  const napi = path.join(here, 'node_modules', '.bin', process.platform === 'win32' ? 'napi.cmd' : 'napi');
  const out = fs.mkdtempSync(path.join(os.tmpdir(), 'cachekit-napi-'));
  try {
    console.error('cachekit: building the native addon (napi build, debug; the first build takes a few minutes)');
    const r = spawnSync(napi, ['build', '--output-dir', out, '--dts', 'addon.d.ts'], { cwd: here, stdio: 'inherit' });
    if (r.error || r.status !== 0) {
      console.error(`cachekit: napi build failed${r.error ? `: ${r.error.message}` : ''}`);
      return 1;
    }
    const built = path.join(out, 'cachekit.node');
    const dest = path.join(here, 'cachekit.node');
    const same = fs.existsSync(dest) && fs.readFileSync(dest).equals(fs.readFileSync(built));
    if (!same) {
      // Copy then rename: a process that has the old addon loaded keeps its file.
      fs.copyFileSync(built, `${dest}.tmp`);
      fs.renameSync(`${dest}.tmp`, dest);
    }
    console.error(`cachekit: ${dest} is up to date`);
    return 0;
  } finally {
    fs.rmSync(out, { recursive: true, force: true });
  }
}

process.exitCode = main();
