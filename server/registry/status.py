"""The current ``proxy:status`` payload with full lists, for the REST route."""

from __future__ import annotations

import orjson

from events.bus import EventBus
from server.registry import snapshots
from server.registry.proxy_state import ProxyState
from storage.clock import utc_now_iso

#: How long a status request waits for committed writes to reach the mirror.
SETTLE_TIMEOUT = 1.0


async def current_proxy_status(bus: EventBus, proxy: ProxyState) -> orjson.Fragment:
    """The greeting's payload: carries the seq it reflects without advancing it (SPEC
    "Events"). Waits (bounded) for the writes committed before it, so a script that
    wrote and then asks sees its write; later writes are not waited for."""
    await bus.settled(SETTLE_TIMEOUT)
    status = snapshots.greeting_status(proxy.snapshot(), utc_now_iso())
    return orjson.Fragment(bus.mirror.greeting(status))
