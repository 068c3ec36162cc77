"""The current ``proxy:status`` payload, for a connecting client and the REST route."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from server.keys import BUS, PROXY, REGISTRY_CACHE
from server.registry import snapshots
from storage.clock import utc_now_iso


async def current_proxy_status(app: web.Application) -> dict[str, Any]:
    """Carries the seq of the last broadcast without advancing it (SPEC "Events")."""
    state = await app[REGISTRY_CACHE].state()
    payload = snapshots.proxy_status(state, app[PROXY].snapshot(), utc_now_iso())
    return {**payload.to_json(), "seq": app[BUS].delivered_seq}
