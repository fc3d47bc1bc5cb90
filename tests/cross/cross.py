"""Python side of the cross-language test (run by tests/cross/run.sh).

    cross.py write|read FORMAT NAMESPACE SIDE

write: calls the cached function (a miss: it runs) with SIDE's arguments.
read: calls it with the other side's arguments and checks that it is a
hit (the function does not run) with the value the other side wrote.
Exits 1 with a reason on failure.
"""

import datetime as dt
import sys

from cachekit import cache

mode, fmt, ns, side = sys.argv[1:5]

WHEN = dt.datetime(2024, 5, 6, 7, 8, 9, 123456, tzinfo=dt.timezone.utc)


def args_for(who: str) -> tuple:
    # Python passes 2.0 where Go passes the integer 2: one key (2.0 == 2).
    if who == "python":
        return (42, "alpha", 2.0, {"k": [1, 2]})
    return (7, "beta", 3.0, {"k": [3]})


def value_for(who: str, a: tuple) -> dict:
    return {"id": a[0], "name": f"{who}:{a[1]}", "tags": ["x", "y"], "score": 1.5, "when": WHEN, "nested": {"k": a[3]["k"]}}


runs = []
opts = {"interop": "profile"} if fmt == "interop" else {"operation": "profile"}


@cache(namespace=ns, ttl=600, **opts)
def profile(ident, name, factor, extra):
    runs.append((ident, name))
    return value_for("python", (ident, name, factor, extra))


if mode == "write":
    got = profile(*args_for("python"))
    if runs != [(42, "alpha")]:
        sys.exit(f"python write: expected one run, got {runs}")
    sys.exit(0)

other = "go" if side == "python" else "python"
got = profile(*args_for(other))
want = value_for(other, args_for(other))
if runs:
    sys.exit(f"python read ({fmt}): the function ran: not a hit of the value Go wrote")
if got != want:
    sys.exit(f"python read ({fmt}): got {got!r}, want {want!r}")
