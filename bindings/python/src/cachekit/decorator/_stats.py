"""``cache_info()``: per-call counters of one decorated function (a caller
that waited for another caller's fill is a hit, so hits + misses = calls) and
the core's L1/L2 figures."""

from __future__ import annotations

import itertools
from typing import Any, NamedTuple


class CacheInfo(NamedTuple):
    """Counters of one decorated function (from the core's health report)."""

    hits: int
    misses: int
    maxsize: int
    currsize: int
    l1_hits: int
    l2_hits: int
    l2_errors: int


class CallCounter:
    """Calls answered with a value (L1, L2, or another caller's fill) and calls
    that ran the function. ``hit``/``miss`` are ``itertools.count.__next__``
    (atomic under the GIL, no lock on the hot path)."""

    __slots__ = ("hit", "hits", "miss", "misses")

    def __init__(self) -> None:
        self.hits: itertools.count[int] = itertools.count()
        self.misses: itertools.count[int] = itertools.count()
        self.hit: Any = self.hits.__next__
        self.miss: Any = self.misses.__next__


def _count(c: itertools.count[int]) -> int:
    """The next value of a counter, not taken (``itertools.count`` is atomic to advance)."""
    return int(repr(c)[len("count(") : -1])


def cache_info(health: dict[str, Any], counter: CallCounter) -> CacheInfo:
    """The ``CacheInfo`` of a function from its namespace's health report and its call counter."""
    l1 = health.get("l1") or {}
    st = health.get("stats") or {}
    return CacheInfo(
        hits=_count(counter.hits),
        misses=_count(counter.misses),
        maxsize=int(l1.get("budget_bytes", 0)),
        currsize=int(l1.get("entries", 0)),
        l1_hits=int(l1.get("hits", 0)),
        l2_hits=int(st.get("l2_hits", 0)),
        l2_errors=int(st.get("l2_errors", 0)),
    )
