"""``UNSET``: a parameter that was not given (``None`` is a value: ``backend=None`` is L1-only)."""

from __future__ import annotations

from typing import Any


class _Unset:
    def __repr__(self) -> str:
        return "<unset>"


UNSET: Any = _Unset()
