"""The bearer token check shared by HTTP requests and Socket.IO connections."""

from __future__ import annotations

import hmac


def token_matches(header: str, token: str) -> bool:
    """Whether ``header`` is ``Bearer <token>``; compared in constant time."""
    scheme, _, given = header.partition(" ")
    return scheme.lower() == "bearer" and hmac.compare_digest(given.strip(), token)
