"""engine.io's aiohttp websocket wrapper, with compression as a setting and a registry.

engine.io creates ``WebSocketResponse`` with aiohttp's default ``compress=True``, which
deflates every frame once per client: for a broadcast that costs more CPU than the rest
of the fan-out. This subclass makes it a setting (off by default), and keeps the open
sockets so shutdown can close them itself within a bound instead of waiting out
aiohttp's shutdown timeout.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

from aiohttp import web
from engineio.async_drivers.aiohttp import WebSocket


class WebSocketRegistry:
    """Open websocket transports, so they can be closed on shutdown."""

    def __init__(self) -> None:
        self.open: set[TrackedWebSocket] = set()

    async def close_all(self, timeout: float) -> None:
        """Close every websocket; abort the transports of those that do not answer."""
        sockets = list(self.open)
        if not sockets:
            return
        closing = [asyncio.ensure_future(ws.close()) for ws in sockets]
        _, pending = await asyncio.wait(closing, timeout=timeout)
        for task in pending:
            task.cancel()
        for ws in sockets:
            ws.abort()


class TrackedWebSocket(WebSocket):  # type: ignore[misc]
    compress: bool = False
    registry: WebSocketRegistry

    async def __call__(self, environ: dict[str, Any]) -> web.WebSocketResponse:
        request: web.Request = environ["aiohttp.request"]
        self._request = request
        self._sock = web.WebSocketResponse(
            max_msg_size=self.server.max_http_buffer_size, compress=self.compress
        )
        await self._sock.prepare(request)
        self.environ = environ
        self.registry.open.add(self)
        try:
            await self.handler(self)
        finally:
            self.registry.open.discard(self)
        return self._sock

    def abort(self) -> None:
        transport = self._request.transport
        if transport is not None:
            with contextlib.suppress(Exception):
                transport.abort()


def websocket_class(compress: bool, registry: WebSocketRegistry) -> type[TrackedWebSocket]:
    """A per-server subclass, so settings never leak between apps in one process."""
    return type(
        "ModeldeckWebSocket", (TrackedWebSocket,), {"compress": compress, "registry": registry}
    )
