"""The health reports of a decorated function: the core's report (the API
reference's shape) with the keys the reference SDK 0.24.1 returns added."""

from __future__ import annotations

from typing import Any


def health_superset(h: dict[str, Any]) -> dict[str, Any]:
    """The core's report (the API reference's shape) plus the keys the
    reference SDK 0.24.1 returns: ``healthy``, ``overall_healthy`` and
    ``components`` (whose ``circuit_breaker.state`` is lower case, as 0.24.1
    writes it; the top-level ``circuit_breaker.state`` stays ``"CLOSED"``...)."""
    cb = dict(h.get("circuit_breaker") or {})
    state = str(cb.get("state", "CLOSED"))
    healthy = state.upper() != "OPEN" and not cb.get("permanent_error")
    h["healthy"] = healthy
    h["overall_healthy"] = healthy
    cb["state"] = state.lower()
    components: dict[str, Any] = {"circuit_breaker": cb}
    if h.get("backpressure") is not None:
        components["load_control"] = h["backpressure"]
    if h.get("stats") is not None:
        components["metrics"] = h["stats"]
    h["components"] = components
    return h


def check_health_superset(c: dict[str, Any]) -> dict[str, Any]:
    """``check_health()``: the API reference's ``decorator`` and ``system`` plus
    0.24.1's ``status``, ``namespace``, ``components`` (and ``healthy``)."""
    d = health_superset(dict(c.get("decorator") or {}))
    c["decorator"] = d
    system = c.get("system") or {}
    healthy = bool(d["healthy"]) and system.get("status", "healthy") == "healthy"
    c["status"] = "healthy" if healthy else "unhealthy"
    c["healthy"] = healthy
    c["namespace"] = d.get("namespace")
    c["components"] = d["components"]
    return c
