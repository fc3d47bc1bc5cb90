"""OpenTelemetry spans, when the API is installed."""

from __future__ import annotations

from typing import Any


def tracer() -> tuple[Any, Any] | None:
    """The OpenTelemetry tracer and ``use_span``, when the API is installed.

    Each call starts a span; a span that does not record (no SDK configured)
    is dropped at once, so the API alone costs a call next to nothing."""
    try:
        from opentelemetry import trace  # pyright: ignore[reportMissingImports]
    except ImportError:
        return None
    return trace.get_tracer("cachekit"), trace.use_span  # pyright: ignore[reportUnknownMemberType]
