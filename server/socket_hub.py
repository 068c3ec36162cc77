"""The Socket.IO side: connection auth, topic rooms, and delivery of broadcasts.

New clients join every topic room and get a ``proxy:status`` right after connecting;
``subscribe``/``unsubscribe`` change the rooms and are acked with the resulting list.
The hub is also the bus's ``Emitter``: python-socketio encodes a room broadcast once and
queues the same packet for every member.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

import socketio

from events import codec
from events.names import ALL_TOPICS, Event, topic_room
from server.middlewares import token_matches
from server.settings import Settings
from server.websocket_transport import WebSocketRegistry, websocket_class

log = logging.getLogger("modeldeck.socket")

Greeting = Callable[[], Awaitable[dict[str, Any]]]
NAMESPACE = "/"


class SocketHub:
    """Owns the AsyncServer. One event loop; handlers may run concurrently."""

    def __init__(self, settings: Settings, greeting: Greeting) -> None:
        self.settings = settings
        self._greeting = greeting
        self._tasks: set[asyncio.Task[None]] = set()
        self.websockets = WebSocketRegistry()
        origins: str | list[str] = "*" if "*" in settings.cors_origins else settings.cors_origins
        self.sio = socketio.AsyncServer(
            async_mode="aiohttp",
            cors_allowed_origins=origins,
            json=codec,
            http_compression=False,
            logger=False,
            engineio_logger=False,
        )
        eio = self.sio.eio
        eio._async = {
            **eio._async,
            "websocket": websocket_class(settings.ws_compression, self.websockets),
        }
        self.sio.on("connect", self._on_connect)
        self.sio.on("disconnect", self._on_disconnect)
        self.sio.on("subscribe", self._on_subscribe)
        self.sio.on("unsubscribe", self._on_unsubscribe)

    # -- Emitter protocol ------------------------------------------------------------

    async def emit(self, event: str, data: dict[str, Any], *, room: str) -> int:
        await self.sio.emit(event, data, room=room)
        return self.room_size(room)

    def room_size(self, room: str) -> int:
        return len(self.sio.manager.rooms.get(NAMESPACE, {}).get(room, {}))

    @property
    def client_count(self) -> int:
        return self.room_size(None)  # type: ignore[arg-type]

    # -- handlers ------------------------------------------------------------------

    async def _on_connect(self, sid: str, environ: dict[str, Any], auth: Any = None) -> None:
        token = self.settings.token
        if token is not None:
            given = auth.get("token") if isinstance(auth, dict) else None
            if not isinstance(given, str) or not token_matches(
                f"Bearer {given}", token.get_secret_value()
            ):
                raise socketio.exceptions.ConnectionRefusedError(
                    "unauthorized: missing or wrong token (connect with auth: {token})"
                )
        for topic in ALL_TOPICS:
            await self.sio.enter_room(sid, topic_room(topic))
        # The CONNECT packet is queued right after this handler returns, before any
        # other task runs; greeting from a task keeps proxy:status behind it.
        self.spawn(self._greet(sid))
        log.info("client %s connected (%d clients)", sid, self.client_count)

    async def _greet(self, sid: str) -> None:
        try:
            status = await self._greeting()
            await self.sio.emit(Event.PROXY_STATUS, status, to=sid)
        except Exception:
            log.exception("could not send proxy:status to %s", sid)

    async def _on_disconnect(self, sid: str, reason: Any = None) -> None:
        log.info("client %s disconnected (%s)", sid, reason)

    def topics_of(self, sid: str) -> list[str]:
        rooms = set(self.sio.rooms(sid))
        return [t for t in ALL_TOPICS if topic_room(t) in rooms]

    async def _on_subscribe(self, sid: str, data: Any = None) -> Any:
        topics = _requested_topics(data)
        if isinstance(topics, dict):
            return topics
        for topic in topics:
            await self.sio.enter_room(sid, topic_room(topic))
        return self.topics_of(sid)

    async def _on_unsubscribe(self, sid: str, data: Any = None) -> Any:
        topics = _requested_topics(data)
        if isinstance(topics, dict):
            return topics
        for topic in topics:
            await self.sio.leave_room(sid, topic_room(topic))
        return self.topics_of(sid)

    # -- lifecycle -----------------------------------------------------------------

    def spawn(self, coro: Awaitable[None]) -> None:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def close(self, timeout: float) -> None:
        """Tell every client we are going, then close transports within ``timeout``."""
        sids = [sid for sid, _ in self.sio.manager.get_participants(NAMESPACE, None)]
        if sids:
            disconnects = [asyncio.ensure_future(self.sio.disconnect(sid)) for sid in sids]
            _, pending = await asyncio.wait(disconnects, timeout=timeout / 2)
            for task in pending:
                task.cancel()
        await self.websockets.close_all(timeout / 2)
        for task in list(self._tasks):
            task.cancel()
        await self.sio.shutdown()


def _requested_topics(data: Any) -> list[str] | dict[str, Any]:
    """The topics of a subscribe request, or an error reply naming the problem."""
    topics = data.get("topics") if isinstance(data, dict) else None
    if not isinstance(topics, list) or not all(isinstance(t, str) for t in topics):
        return _error("bad_request", "topics: must be a list of topic names")
    unknown = [t for t in topics if t not in ALL_TOPICS]
    if unknown:
        return _error(
            "validation_error",
            f"topics: unknown topic(s) {', '.join(unknown)}; known: {', '.join(ALL_TOPICS)}",
        )
    return topics


def _error(code: str, message: str) -> dict[str, Any]:
    return {"error": {"code": code, "message": message}}
