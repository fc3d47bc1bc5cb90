'use strict';
// Which thread an L2 call runs on.
//
// L2 reads run as the core's blocking call on a libuv pool thread (its own
// Redis connection: no hop to the core's runtime, no threadsafe function
// per call). Such a thread blocks while a fill waits (for another caller,
// a lock held elsewhere, a slow Redis), so at most half the pool is ever
// ours: file system, DNS and crypto work (the function being cached, too)
// always have threads left. The other calls go through the core's runtime.

const { convert, call, settle } = require('./errors');

const POOL_SLOTS = Math.floor((Number(process.env.UV_THREADPOOL_SIZE) || 4) / 2);
let poolBusy = 0;

async function pooled(p) {
  try {
    return await p;
  } catch (e) {
    throw convert(e);
  } finally {
    poolBusy -= 1;
  }
}

function l2Call(op, l2, a, now, later) {
  if (l2 && poolBusy < POOL_SLOTS) {
    const p = call(() => now.call(op, a));
    poolBusy += 1;
    return pooled(p);
  }
  return settle(call(() => later.call(op, a)));
}

/** Begin a fill (the miss path of a cached function). */
const fillL2 = (op, l2, a) => l2Call(op, l2, a, op.fillNow, op.fill);
/** A plain read (Namespace.get). */
const getL2 = (op, l2, a) => l2Call(op, l2, a, op.getNow, op.get);

module.exports = { fillL2, getL2 };
