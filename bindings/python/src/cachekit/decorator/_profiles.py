"""The presets' core options and the profile ``@cache`` picks from a function's name."""

from __future__ import annotations

import logging
import re
from typing import Any

log = logging.getLogger("cachekit")

# Core options of each profile (README: "Presets"). Manual parameters win.
PROFILES: dict[str, dict[str, Any]] = {
    "default": {
        "circuit_breaker": True,
        "adaptive_timeout": True,
        "backpressure": True,
        "collect_stats": True,
        "enable_structured_logging": True,
        "enable_tracing": True,
    },
    "minimal": {
        "circuit_breaker": True,
        "adaptive_timeout": False,
        "backpressure": False,
        "collect_stats": False,
        "enable_structured_logging": True,  # warnings (Redis down, mismatches) stay visible
        "enable_tracing": False,
    },
    "production": {
        "circuit_breaker": True,
        "adaptive_timeout": True,
        "backpressure": True,
        "collect_stats": True,
        "enable_structured_logging": True,
        "enable_tracing": True,
    },
    "secure": {
        "circuit_breaker": True,
        "adaptive_timeout": True,
        "backpressure": True,
        "collect_stats": True,
        "enable_structured_logging": True,
        "enable_tracing": True,
        "encryption": True,
    },
    "dev": {
        "circuit_breaker": False,
        "adaptive_timeout": False,
        "backpressure": False,
        "collect_stats": False,  # the reference: "Prometheus disabled for simplicity"
        "enable_structured_logging": True,
        "enable_tracing": False,
        "verbose_logging": True,
    },
    "test": {
        "circuit_breaker": False,
        "adaptive_timeout": False,
        "backpressure": False,
        "collect_stats": False,
        "enable_structured_logging": False,
        "enable_tracing": False,
    },
}
PROFILES["fast"] = PROFILES["minimal"]

_SECURE_WORDS = (
    "user", "auth", "password", "passwd", "token", "secret", "credential", "payment", "credit",
    "card", "ssn", "medical", "patient", "health_record", "financial", "bank", "account",
    "session", "pii", "private", "salary", "tax",
)  # fmt: skip
_FAST_WORDS = ("get", "calc", "compute", "fetch", "lookup", "find", "load", "read", "count", "sum")
_warned_secure = [False]


def _words(name: str) -> list[str]:
    return [w for w in re.split(r"[^a-z0-9]+", re.sub(r"([a-z0-9])([A-Z])", r"\1_\2", name).lower()) if w]


def _sensitive(word: str) -> bool:
    """A word of a function name that names sensitive data: a listed word, its
    plural, or a longer word it starts (users, authorize, passwords, sessions)."""
    for w in _SECURE_WORDS:
        if word == w or word == w + "s" or (len(w) >= 4 and w != "card" and word.startswith(w)):
            return True
    return False


def detect_profile(func_name: str, master_key_available: bool) -> str:
    """The profile ``@cache`` picks from a function's name.

    Security-sensitive words (user, auth, payment, ...) give ``secure`` when
    a master key is configured; without one a single warning recommends
    ``@cache.secure`` and the default profile is used. High-frequency words
    (get, calc, compute, ...) give ``fast`` (the minimal options); the rest
    ``default``.
    """
    words = _words(func_name)
    if any(_sensitive(w) for w in words):
        if master_key_available:
            return "secure"
        if not _warned_secure[0]:
            _warned_secure[0] = True
            log.warning(
                "cachekit: %s looks security-sensitive but no master key is configured; caching it "
                + "unencrypted. Use @cache.secure(master_key=...) or set CACHEKIT_MASTER_KEY.",
                func_name,
            )
        return "default"
    if words and words[0] in _FAST_WORDS:
        return "fast"
    return "default"
