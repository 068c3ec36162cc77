"""Timestamps as the API spells them: ISO-8601 UTC with milliseconds and a ``Z``."""

from __future__ import annotations

from datetime import UTC, datetime


def utc_now_iso() -> str:
    """The current time, e.g. ``2026-11-22T14:00:00.000Z``."""
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
