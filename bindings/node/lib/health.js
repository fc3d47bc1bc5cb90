'use strict';
// Stats, health and metrics: the core builds them (JSON, Prometheus text);
// this file parses the JSON into objects.

const { call, settle } = require('./errors');

/** Health of a native namespace, without I/O. */
function healthStatus(ns) {
  return JSON.parse(call(() => ns.health()));
}

/** healthStatus plus an active PING of Redis. */
async function checkHealth(ns) {
  return JSON.parse(await settle(ns.checkHealth()));
}

/** Prometheus exposition text of every cache of a native client. */
function metrics(nativeClient) {
  return call(() => nativeClient.metrics());
}

module.exports = { healthStatus, checkHealth, metrics };
