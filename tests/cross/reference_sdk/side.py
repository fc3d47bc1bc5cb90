"""One side of the cross-SDK test: run with the reference SDK's interpreter
(build/venv-reference, PyPI cachekit 0.24.1) or with ours (this repository's
bindings/python); ``import cachekit`` is whichever the interpreter has.

    side.py write plain|encrypted|encrypted-env NS   store an interop entry (the function runs once)
    side.py read  plain|encrypted|encrypted-env NS   exit 0 when the entry is a hit written by the other SDK
    side.py keys                                     print the interop keys of the convenience arguments (JSON)
    side.py refuses CASE                             exit 0 when CASE fails loudly (an exception, named)

Redis is $CROSS_REDIS_URL. "encrypted-env" passes the tenant through
CACHEKIT_DEPLOYMENT_UUID (set by the caller) instead of deployment_uuid=.
Only public API of each package is used (no code of one is in the other).
"""

from __future__ import annotations

import datetime as dt
import decimal
import enum
import json
import os
import pathlib
import sys
from typing import Any

import cachekit
from cachekit import cache

URL = os.environ["CROSS_REDIS_URL"]
MASTER_KEY = "c3" * 32
DEPLOYMENT_UUID = "2f1b7c9e-5d34-4a8e-9f60-1c2d3e4f5a6b"
REFERENCE = not hasattr(cachekit, "core_version")  # ours exposes the core's version
ME = "reference" if REFERENCE else "ours"
OTHER = "ours" if REFERENCE else "reference"
WHEN = dt.datetime(2026, 1, 2, 3, 4, 5, tzinfo=dt.UTC)


def backend() -> dict[str, Any]:
    """The L2 keyword of each SDK for ``URL`` (ours takes a URL; the reference an
    explicit RedisBackend, whose default per-request backend prefixes keys)."""
    if REFERENCE:
        from cachekit.backends.redis import RedisBackend

        return {"backend": RedisBackend(URL)}
    return {"backend": URL}


def encryption(kind: str) -> tuple[Any, dict[str, Any]]:
    """The decorator and keywords of an encrypted interop function with one tenant."""
    tenant = {} if kind == "encrypted-env" else {"deployment_uuid": DEPLOYMENT_UUID}
    if REFERENCE:
        return cache.secure, {"master_key": MASTER_KEY, **tenant}
    return cache, {"encryption": True, "master_key": MASTER_KEY, **tenant}


def make(kind: str, ns: str, runs: list[int]) -> Any:
    deco, kw = (cache, {}) if kind == "plain" else encryption(kind)

    @deco(interop="get_profile", namespace=ns, ttl=300, **backend(), **kw)
    def get_profile(user_id: int, region: str) -> dict[str, Any]:
        runs[0] += 1
        return {"id": user_id, "region": region, "writer": ME, "tags": ["a", "b"], "score": 1.5, "at": WHEN}

    return get_profile


def write(kind: str, ns: str) -> int:
    runs = [0]
    value = make(kind, ns, runs)(7, "eu")
    if runs[0] != 1 or value["writer"] != ME:
        print(f"{ME}: expected a miss that runs the function once, got {runs[0]} run(s) and {value!r}")
        return 1
    return 0


def read(kind: str, ns: str) -> int:
    runs = [0]
    value = make(kind, ns, runs)(7, "eu")
    want = {"id": 7, "region": "eu", "writer": OTHER, "tags": ["a", "b"], "score": 1.5, "at": WHEN}
    if runs[0] != 0 or value != want:
        print(f"{ME}: expected a hit on the entry {OTHER} wrote, got {runs[0]} run(s) and {value!r}")
        return 1
    return 0


class Color(enum.Enum):
    RED = "red"


CONVENIENCE = {
    "enum": Color.RED,
    "decimal": decimal.Decimal("1.50"),
    "posix-path": pathlib.PurePosixPath("/srv/data"),
    "windows-path": pathlib.PureWindowsPath("C:\\data\\x"),
    "aware-datetime": WHEN,
    "set": {3, 1, 2},
    "nested": {"k": [1, 2.0, None, True]},
}


def keys() -> int:
    from cachekit.interop import generate_interop_key

    print(json.dumps({name: generate_interop_key("users", "op", [v]) for name, v in CONVENIENCE.items()}))
    return 0


def _decorate(**kw: Any) -> Any:
    @cache(**kw)
    def get_thing(x: Any) -> Any:
        return {"x": 1}

    return get_thing


def _returns_object(ns: str) -> Any:
    @cache(interop="get_object", namespace=ns, **backend())
    def get_object(x: int) -> Any:
        return object()

    return get_object(1)


def _interop(ns: str, **kw: Any) -> Any:
    return _decorate(interop="get_thing", namespace=ns, **{**backend(), **kw})


# Each configuration that used to fail silently (or only at the first call),
# and what must happen instead: an exception of the named type.
CASES: dict[str, tuple[str, Any]] = {
    "key-prefix-from-the-environment": ("ConfigurationError", lambda ns: _interop(ns)),
    "tenant-scope-from-the-environment": ("ConfigurationError", lambda ns: _interop(ns)),
    "key-function": ("ConfigurationError", lambda ns: _interop(ns, key=lambda x: "k")),
    "no-namespace": ("ConfigurationError", lambda ns: _decorate(interop="get_thing", **backend())),
    "backend-none": ("ConfigurationError", lambda ns: _interop(ns, backend=None)),
    "invalid-operation": ("ConfigurationError", lambda ns: _decorate(interop="Get Thing", namespace=ns, **backend())),
    "result-outside-the-model": ("InteropError", _returns_object),
    "argument-outside-the-model": ("InteropError", lambda ns: _interop(ns)(object())),
    "date-argument": ("InteropError", lambda ns: _interop(ns)(dt.date(2026, 1, 2))),
}


def refuses(case: str) -> int:
    want, run = CASES[case]
    ns = f"refuse{os.getpid()}"
    try:
        run(ns)
    except Exception as e:  # noqa: BLE001 - any exception is the loud failure; its type is checked
        names = [c.__name__ for c in type(e).__mro__]
        if want in names:
            return 0
        print(f"{ME}: {case} raised {type(e).__name__} ({e}), not a {want}")
        return 1
    print(f"{ME}: {case} did not fail: nothing said that no entry would be shared")
    return 1


def main(argv: list[str]) -> int:
    cmd = argv[1]
    if cmd == "write":
        return write(argv[2], argv[3])
    if cmd == "read":
        return read(argv[2], argv[3])
    if cmd == "keys":
        return keys()
    if cmd == "refuses":
        return refuses(argv[2])
    print(f"unknown command {cmd!r}")
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
