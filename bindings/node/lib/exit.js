'use strict';
// Writes made behind callers must land before the process ends: flush on
// 'beforeExit' (the loop is idle; async), and as a last resort on 'exit'
// (process.exit(): no loop left, so a short blocking wait is all there is).
// A client marks itself `_dirty` when a write may be behind the caller.

const clients = new Set();
let hooked = false;

/** Flush `client` (when it wrote) before the process exits. */
function flushBeforeExit(client) {
  clients.add(client);
  if (hooked) return;
  hooked = true;
  let flushing = false;
  process.on('beforeExit', () => {
    // A flush is work for the loop, so 'beforeExit' comes again after it:
    // flush only clients that wrote since, or this would never end.
    const dirty = [...clients].filter((c) => c._dirty);
    if (flushing || dirty.length === 0) return;
    flushing = true;
    for (const c of dirty) c._dirty = false;
    Promise.all(dirty.map((c) => c._native.flush(5000)))
      .catch(() => {})
      .then(() => {
        flushing = false;
      });
  });
  process.on('exit', () => {
    for (const c of clients) {
      if (!c._dirty) continue;
      try {
        c._native.flushSync(1000);
      } catch {
        // exiting: nothing left to report to
      }
    }
  });
}

module.exports = { flushBeforeExit };
