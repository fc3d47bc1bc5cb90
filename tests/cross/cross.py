"""The Python counterpart of every cross-language test: one program, one
subcommand per test that runs it (each keeps its own names and values).

    cross.py go write|read FORMAT NAMESPACE SIDE      (tests/cross/run.sh)
        write: calls the cached function (a miss: it runs) with SIDE's
        arguments. read: calls it with the other side's arguments and checks
        that it is a hit (the function does not run) with the value the other
        side wrote. Exits 1 with a reason on failure.

    cross.py php write|read NAMESPACE                 (bindings/php CrossLanguageTest)
        write: stores entries through @cache; read: calls the same functions
        with PHP's arguments. Prints the results as JSON and how many times
        Python computed (0: every call hit).

    cross.py node NAMESPACE                           (bindings/node test/cross.test.js)
        Calls price("ACME", 3); prints the value (its datetime as ISO 8601)
        and how many times Python computed, as JSON.

The Redis is the environment's (CACHEKIT_REDIS_URL), the core the one
CACHEKIT_LIBRARY names.
"""

import datetime as dt
import json
import sys
from typing import Any

from cachekit import cache

UTC = dt.timezone.utc


def go_side(mode: str, fmt: str, ns: str, side: str) -> None:
    when = dt.datetime(2024, 5, 6, 7, 8, 9, 123456, tzinfo=UTC)

    def args_for(who: str) -> tuple:
        # Python passes 2.0 where Go passes the integer 2: one key (2.0 == 2).
        if who == "python":
            return (42, "alpha", 2.0, {"k": [1, 2]})
        return (7, "beta", 3.0, {"k": [3]})

    def value_for(who: str, a: tuple) -> dict:
        return {"id": a[0], "name": f"{who}:{a[1]}", "tags": ["x", "y"], "score": 1.5, "when": when,
                "nested": {"k": a[3]["k"]}}  # fmt: skip

    runs = []
    opts = {"interop": "profile"} if fmt == "interop" else {"operation": "profile"}

    @cache(namespace=ns, ttl=600, **opts)
    def profile(ident, name, factor, extra):
        runs.append((ident, name))
        return value_for("python", (ident, name, factor, extra))

    if mode == "write":
        profile(*args_for("python"))
        if runs != [(42, "alpha")]:
            sys.exit(f"python write: expected one run, got {runs}")
        return

    other = "go" if side == "python" else "python"
    got = profile(*args_for(other))
    want = value_for(other, args_for(other))
    if runs:
        sys.exit(f"python read ({fmt}): the function ran: not a hit of the value Go wrote")
    if got != want:
        sys.exit(f"python read ({fmt}): got {got!r}, want {want!r}")


def php_side(mode: str, ns: str) -> None:
    computed: list[Any] = []

    @cache(namespace=ns, operation="psr16", ttl=300)
    def psr16(key):
        computed.append(("psr16", key))
        return {"written_by": "python", "key": key}

    @cache(namespace=ns, operation="add", ttl=300)
    def add(a, b):
        computed.append(("add", a, b))
        return {"sum": a + b, "written_by": "python"}

    @cache(namespace=ns, operation="when", ttl=300)
    def when(label):
        computed.append(("when", label))
        return dt.datetime(2024, 1, 1, 12, 30, 45, 123456, tzinfo=UTC)

    def jsonable(v: Any) -> Any:
        return {"datetime": v.isoformat()} if isinstance(v, dt.datetime) else v

    if mode == "write":
        out = {"psr16": psr16("from-python"), "add": add(2, 3), "when": jsonable(when("py"))}
    else:
        out = {"psr16": psr16("from-php"), "add": add(4, 5), "when": jsonable(when("php"))}
    out["computed"] = len(computed)
    print(json.dumps(out))


def node_side(ns: str) -> None:
    calls = []

    @cache(namespace=ns, operation="price", ttl=300)
    def price(symbol, qty):
        calls.append(1)
        return {"symbol": symbol, "qty": qty, "by": "python", "at": dt.datetime(2024, 1, 1, 12, 30, 45, 123456, tzinfo=UTC)}

    v = price("ACME", 3)
    v["at"] = v["at"].isoformat()
    print(json.dumps({"value": v, "calls": len(calls)}))


def main(argv: list[str]) -> None:
    match argv:
        case ["go", ("write" | "read") as mode, fmt, ns, side]:
            go_side(mode, fmt, ns, side)
        case ["php", ("write" | "read") as mode, ns]:
            php_side(mode, ns)
        case ["node", ns]:
            node_side(ns)
        case _:
            sys.exit(__doc__)


if __name__ == "__main__":
    main(sys.argv[1:])
