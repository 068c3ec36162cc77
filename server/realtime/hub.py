"""The Socket.IO side: connection auth, topic rooms, catch-up and delivery.

New clients join every topic room of their format (``auth.format``: ``full``, the
default, or ``delta``). A client is *held* from the moment it joins until its welcome
has been written: first the events it missed (``auth.lastSeq``) or an
``events:reset``, in its format, then the greeting ``proxy:status`` (full lists and the
``seq`` they reflect, in both formats), then any live events newer than that seq — so a
reconnecting dashboard sees no gap and no duplicate. ``subscribe``/``unsubscribe``
change the rooms and are acked with the resulting list. The hub is the bus's
``Emitter``; bytes reach sockets through ``Fanout``.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import socketio

from events import codec
from events.bus import Broadcast
from events.names import ALL_TOPICS, Event, Format, topic_room
from server.auth import token_matches
from server.browser_guard import BrowserGuard
from server.realtime.catch_up import Reset, parse_last_seq
from server.realtime.fanout import NAMESPACE, Fanout, Outgoing
from server.realtime.packet_guard import GuardedServer
from server.realtime.transport import (
    QueueLimits,
    WebSocketRegistry,
    end_polling,
    install_poll,
    websocket_class,
)
from server.settings import Settings

log = logging.getLogger("modeldeck.socket")

Greeting = Callable[[], tuple[int, bytes]]
#: ``(last_seq, upper, topics, format)`` → the missed events as ``(seq, event, payload)``
#: in that format, or a Reset. Must read the registry state synchronously, before its
#: first await, so that it is the state as of ``upper``.
Missed = Callable[[int, int, list[str], Format], Awaitable["list[Replay] | Reset"]]
Replay = tuple[int, str, bytes]
CurrentSeq = Callable[[], int]

#: How long one encoded greeting is reused (its uptimes and timestamp age that much).
GREETING_MAX_AGE = 1.0


class SocketHub:
    """Owns the AsyncServer. One event loop; handlers may run concurrently.

    ``on_connect``, ``on_disconnect``, ``on_subscribe`` and ``on_unsubscribe`` are its
    socket handlers; ``server.contexts`` registers them with all the others.
    """

    def __init__(self, settings: Settings, guard: BrowserGuard) -> None:
        self.settings = settings
        self._tasks: set[asyncio.Future[None]] = set()
        self.websockets = WebSocketRegistry()
        self.replays_served = 0
        self.resets_sent = 0
        limits = QueueLimits(settings.client_queue_messages, settings.client_queue_bytes)
        self.sio = GuardedServer(
            self.websockets.by_eio_sid,
            async_mode="aiohttp",
            # The page's own origin or one --cors-origin names (the request middleware
            # refuses the others first); never [], which would turn the check off.
            cors_allowed_origins=lambda origin, environ: guard.origin_allowed(
                origin, environ.get("HTTP_HOST")
            ),
            cors_credentials=False,
            json=codec,
            http_compression=False,
        )
        eio = self.sio.eio
        eio._async = {
            **eio._async,
            "websocket": websocket_class(settings.ws_compression, limits, self.websockets),
        }
        self.fanout = Fanout(self.sio, self.websockets, limits)
        self._greeting: Greeting | None = None
        self._missed: Missed | None = None
        self._current_seq: CurrentSeq = lambda: 0
        self._greeting_cache: tuple[int, float, Outgoing] | None = None
        self._connect_deadlines: dict[str, asyncio.TimerHandle] = {}
        self._eio_connect = eio.handlers["connect"]
        self._eio_message = eio.handlers["message"]
        self._eio_disconnect = eio.handlers["disconnect"]
        eio.on("connect", self._on_eio_connect)
        eio.on("message", self._on_eio_message)
        eio.on("disconnect", self._on_eio_disconnect)
        self._formats: dict[str, Format] = {}

    def bind(self, *, greeting: Greeting, missed: Missed, current_seq: CurrentSeq) -> None:
        """Connect the hub to the state it greets clients with (set once storage is open).

        ``current_seq`` is the seq the greeting reflects (every event up to it has been
        broadcast)."""
        self._greeting, self._missed, self._current_seq = greeting, missed, current_seq

    # -- Emitter protocol ------------------------------------------------------------

    async def emit_batch(self, batch: Sequence[Broadcast]) -> list[int]:
        items = [
            (b.room, Outgoing(b.event, b.payload_json, b.seq)) if self.room_size(b.room) else None
            for b in batch
        ]
        return self.fanout.broadcast_batch(items)

    def broadcast(self, event: str, data: Any, *, room: str, seq: int | None = None) -> int:
        """Encode once and deliver to every member of ``room``; returns the recipients."""
        if not self.room_size(room):
            return 0
        return self.fanout.broadcast(room, Outgoing.of(event, data, seq))

    def room_size(self, room: str | None) -> int:
        """Members of ``room`` (``None``: every connected client)."""
        return len(self.sio.manager.rooms.get(NAMESPACE, {}).get(room, {}))

    @property
    def client_count(self) -> int:
        return self.room_size(None)

    # -- connection ----------------------------------------------------------------

    async def _on_eio_connect(self, eio_sid: str, environ: dict[str, Any]) -> Any:
        """A new engine.io session: it must send a Socket.IO CONNECT within the connect
        timeout (Node's ``connectTimeout``), or it is closed, so a client that only
        answers pings cannot hold a session forever."""
        socket = self.sio.eio.sockets.get(eio_sid)
        if socket is not None:
            install_poll(socket)
        loop = asyncio.get_running_loop()
        self._connect_deadlines[eio_sid] = loop.call_later(
            self.settings.socket_connect_timeout, self._connect_deadline, eio_sid
        )
        return await self._eio_connect(eio_sid, environ)

    async def _on_eio_message(self, eio_sid: str, data: Any) -> Any:
        """Drop what arrives for a closed session (e.g. ``1`` then ``40`` in one POST
        body): python-socketio would otherwise keep a session that no transport
        belongs to, and it would never be removed."""
        socket = self.sio.eio.sockets.get(eio_sid)
        if socket is None or socket.closed or socket.closing:
            return None
        return await self._eio_message(eio_sid, data)

    async def _on_eio_disconnect(self, eio_sid: str, reason: Any) -> Any:
        """After the client's own CLOSE, answer its pending long-poll at once: engine.io
        would hold it until the ping timeout (45 s), and the client waits for it."""
        result = await self._eio_disconnect(eio_sid, reason)
        socket = self.sio.eio.sockets.get(eio_sid)
        if socket is not None and reason == self.sio.eio.reason.CLIENT_DISCONNECT:
            socket.queue.put_nowait(None)  # engine.io's own "no more packets" marker
        return result

    def _connect_deadline(self, eio_sid: str) -> None:
        self._connect_deadlines.pop(eio_sid, None)
        socket = self.sio.eio.sockets.get(eio_sid)
        if socket is None or socket.closed or socket.closing:
            return
        if self.sio.manager.sid_from_eio_sid(eio_sid, NAMESPACE) is not None:
            return
        log.info("closing engine.io session %s: no Socket.IO CONNECT in time", eio_sid)
        self.spawn(self._close_session(eio_sid, socket))

    async def _close_session(self, eio_sid: str, socket: Any) -> None:
        """engine.io's CLOSE, then the transport itself (a websocket stays open otherwise)."""
        await socket.close(wait=False, abort=False, reason=self.sio.eio.reason.SERVER_DISCONNECT)
        ws = self.websockets.by_eio_sid.get(eio_sid)
        if ws is not None:
            await ws.going_away()
            ws.abort()

    def _transport_is_open(self, eio_sid: str | None) -> bool:
        socket = self.sio.eio.sockets.get(eio_sid) if eio_sid is not None else None
        return socket is not None and not socket.closed and not socket.closing

    async def on_connect(self, sid: str, environ: dict[str, Any], auth: Any = None) -> Any:
        eio_sid = self.sio.manager.eio_sid_from_sid(sid, NAMESPACE)
        if not self._transport_is_open(eio_sid):
            # e.g. an engine.io CLOSE then a CONNECT in one POST body: a session kept
            # now would belong to no transport and never be removed.
            return False
        token = self.settings.token
        if token is not None:
            given = auth.get("token") if isinstance(auth, dict) else None
            if not isinstance(given, str) or not token_matches(
                f"Bearer {given}", token.get_secret_value()
            ):
                raise socketio.exceptions.ConnectionRefusedError(
                    "unauthorized: missing or wrong token (connect with auth: {token})"
                )
        fmt = _requested_format(auth)
        deadline = self._connect_deadlines.pop(eio_sid, None)  # connected: no timeout
        if deadline is not None:
            deadline.cancel()
        # Hold before joining: every broadcast from now on is kept for the welcome.
        self.fanout.hold(sid)
        self._formats[sid] = fmt
        for topic in ALL_TOPICS:
            await self.sio.enter_room(sid, topic_room(topic, fmt))
        # The CONNECT packet is queued right after this handler returns, before any other
        # task runs, so the welcome (written from a task) always follows it.
        self.spawn(self._welcome(sid, parse_last_seq(auth), fmt))
        log.info("client %s connected (%s format, %d clients)", sid, fmt, self.client_count)

    async def _welcome(self, sid: str, last_seq: int | None, fmt: Format) -> None:
        """Missed events (or a reset), then the greeting, then what arrived meanwhile.

        The greeting is taken first, synchronously, so its ``seq`` is exactly the state
        it lists; the replay stops at that seq and held live events start after it.
        """
        upper = self._current_seq()
        greeting = self._greeting_for(upper) if self._greeting is not None else None
        try:
            if last_seq is not None and self._missed is not None:
                missed = await self._missed(last_seq, upper, self.topics_of(sid), fmt)
                if isinstance(missed, Reset):
                    self.fanout.send(sid, Outgoing.of(Event.EVENTS_RESET, missed.payload()))
                    self.resets_sent += 1
                else:
                    for seq, event, body in missed:
                        self.fanout.send(sid, Outgoing(event, body, seq))
                    self.replays_served += 1
            if greeting is not None:
                self.fanout.send(sid, greeting)
        except Exception:
            log.exception("could not welcome %s", sid)
        finally:
            self.fanout.release(sid, after_seq=upper)

    def _greeting_for(self, upper: int) -> Outgoing:
        """``proxy:status`` as of ``upper``, encoded once for every client that connects
        within a second of it: a thousand dashboards reconnecting after a restart then
        cost one encoding, not a thousand. The same bytes serve both formats."""
        cached = self._greeting_cache
        now = time.monotonic()
        if cached is not None and cached[0] == upper and now - cached[1] < GREETING_MAX_AGE:
            return cached[2]
        assert self._greeting is not None
        seq, body = self._greeting()
        outgoing = Outgoing(Event.PROXY_STATUS, body, seq)
        self._greeting_cache = (seq, now, outgoing)
        return outgoing

    async def on_disconnect(self, sid: str, reason: Any = None) -> None:
        self.fanout.forget(sid)
        self._formats.pop(sid, None)
        log.info("client %s disconnected (%s)", sid, reason)

    # -- topics --------------------------------------------------------------------

    def format_of(self, sid: str) -> Format:
        return self._formats.get(sid, Format.FULL)

    def topics_of(self, sid: str) -> list[str]:
        rooms = set(self.sio.rooms(sid))
        fmt = self.format_of(sid)
        return [t for t in ALL_TOPICS if topic_room(t, fmt) in rooms]

    async def on_subscribe(self, sid: str, data: Any = None) -> Any:
        topics = _requested_topics(data)
        if isinstance(topics, dict):
            return topics
        for topic in topics:
            await self.sio.enter_room(sid, topic_room(topic, self.format_of(sid)))
        return self.topics_of(sid)

    async def on_unsubscribe(self, sid: str, data: Any = None) -> Any:
        topics = _requested_topics(data)
        if isinstance(topics, dict):
            return topics
        for topic in topics:
            await self.sio.leave_room(sid, topic_room(topic, self.format_of(sid)))
        return self.topics_of(sid)

    # -- lifecycle -----------------------------------------------------------------

    def spawn(self, coro: Awaitable[None]) -> None:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def close(self, timeout: float) -> None:
        """Close every client's transport within ``timeout``; clients then reconnect.

        Not a Socket.IO DISCONNECT and not an engine.io CLOSE: after either of those
        socket.io-client (and python-socketio's client) stop for good, and a graceful
        restart would strand every dashboard. A closed websocket or a failed long-poll
        is what a restart looks like to them, so they reconnect and replay from
        ``auth.lastSeq``.
        """
        for handle in self._connect_deadlines.values():
            handle.cancel()
        self._connect_deadlines.clear()
        for eio_sid, socket in list(self.sio.eio.sockets.items()):
            if eio_sid not in self.websockets.by_eio_sid and not socket.closed:
                end_polling(socket)  # long-polling, or upgrading: its poll fails now
        await self.websockets.close_all(timeout)
        for task in list(self._tasks):
            task.cancel()
        await self.sio.shutdown()


def _requested_format(auth: Any) -> Format:
    """``auth.format`` (default ``full``); anything else refuses the connection."""
    value = auth.get("format") if isinstance(auth, dict) else None
    if value is None:
        return Format.FULL
    if value not in tuple(Format):
        known = ", ".join(f"'{f}'" for f in Format)
        raise socketio.exceptions.ConnectionRefusedError(
            f"format: unknown event format {value!r} (auth.format must be one of {known})"
        )
    return Format(value)


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
    return {"success": False, "data": None, "error": {"code": code, "message": message}}
