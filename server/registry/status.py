"""The current ``proxy:status`` payload, for a connecting client and the REST route."""

from __future__ import annotations

from typing import Any

from events.bus import EventBus
from server.registry import snapshots
from server.registry.cache import RegistryCache
from server.registry.proxy_state import ProxyState
from storage.clock import utc_now_iso


async def current_proxy_status(
    cache: RegistryCache, proxy: ProxyState, bus: EventBus
) -> dict[str, Any]:
    """Carries the seq of the last broadcast without advancing it (SPEC "Events")."""
    state = await cache.state()
    payload = snapshots.proxy_status(state, proxy.snapshot(), utc_now_iso())
    return {**payload.to_json(), "seq": bus.delivered_seq}
