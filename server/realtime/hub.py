"""The Socket.IO side: connection auth, topic rooms, catch-up and delivery.

New clients join every topic room of their format (``auth.format``: ``full``, the
default, or ``delta``). A client is *held* from the moment it joins until its welcome
has been written: first the events it missed (``auth.lastSeq``) or an
``events:reset``, in its format, then the greeting ``proxy:status`` (full lists and the
``seq`` they reflect, in both formats), then any live events newer than that seq — so a
reconnecting dashboard sees no gap and no duplicate. ``subscribe``/``unsubscribe``
change the rooms and are acked with the resulting list. The hub is the bus's
``Emitter``; every send is an ``sio.emit``, which python-socketio hands to the
``BroadcastManager`` (``fanout.py``), the one seam between the app and the sockets.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import socketio
from aiohttp import web

from events import codec
from events.bus import Broadcast
from events.names import ALL_TOPICS, Event, Format, topic_room
from server.auth import token_matches
from server.browser_guard import BrowserGuard
from server.realtime import engine
from server.realtime.catch_up import Reset, parse_last_seq
from server.realtime.fanout import NAMESPACE, BroadcastManager, Encoded
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
        self.replays_served = 0
        self.resets_sent = 0
        self.fanout = BroadcastManager(max_held=settings.client_queue_messages)
        self._notes: list[tuple[int, str]] = []  # logged at start-up
        self.sio = engine.socket_server(
            self._notes,
            async_mode="aiohttp",
            client_manager=self.fanout,
            # The page's own origin or one --cors-origin names (the request middleware
            # refuses the others first); never [], which would turn the check off.
            cors_allowed_origins=lambda origin, environ: guard.origin_allowed(
                origin, environ.get("HTTP_HOST")
            ),
            cors_credentials=False,
            json=codec,
            http_compression=False,
            ping_interval=settings.socket_ping_interval,
            ping_timeout=settings.socket_ping_timeout,
        )
        self._path_note: tuple[int, str] = (logging.INFO, "")
        self.engine = self._engine(settings)
        self.fanout.transmitter = self.engine
        self.websockets = self.engine.websockets
        engine.guard_websockets(self.sio, self.websockets)
        self._greeting: Greeting | None = None
        self._missed: Missed | None = None
        self._current_seq: CurrentSeq = lambda: 0
        self._greeting_cache: tuple[int, float, Encoded] | None = None
        self._formats: dict[str, Format] = {}

    def _engine(self, settings: Settings) -> engine.FastEngine | engine.StockEngine:
        """The fast path if it is wanted and the installed internals pass the check.

        The choice is logged when the app starts (logging is configured by then)."""
        if not settings.fast_path:
            self._path_note = (
                logging.INFO,
                "fast path off (--no-fast-path): stock python-socketio/engine.io delivery",
            )
            return engine.StockEngine(self.sio)
        problems = engine.check(self.sio)
        if problems:
            self._path_note = (
                logging.WARNING,
                "fast path off: the installed python-engineio/python-socketio differ from "
                "what it was tested with (constraints.txt): " + "; ".join(problems)
                + "; using their stock delivery",
            )  # fmt: skip
            return engine.StockEngine(self.sio)
        self._path_note = (logging.INFO, "socket delivery: fast path")
        return engine.FastEngine(
            self.sio,
            compress=settings.ws_compression,
            max_messages=settings.client_queue_messages,
            max_bytes=settings.client_queue_bytes,
            connect_timeout=settings.socket_connect_timeout,
            stats=self.fanout.stats,
        )

    @property
    def fast_path(self) -> bool:
        return self.engine.fast

    @property
    def high_water_bytes(self) -> int:
        """Most bytes ever left unsent in one client's transport (fast path only)."""
        return self.engine.high_water_bytes

    def attach(self, app: web.Application) -> None:
        """Serve Socket.IO on ``/socket.io/`` of ``app``."""
        self.engine.attach(app)

        async def announce(_: web.Application) -> None:
            for note in (*self._notes, self._path_note):
                log.log(*note)

        app.on_startup.append(announce)

    def bind(self, *, greeting: Greeting, missed: Missed, current_seq: CurrentSeq) -> None:
        """Connect the hub to the state it greets clients with (set once storage is open).

        ``current_seq`` is the seq the greeting reflects (every event up to it has been
        broadcast)."""
        self._greeting, self._missed, self._current_seq = greeting, missed, current_seq

    # -- Emitter protocol ------------------------------------------------------------

    async def emit_batch(self, batch: Sequence[Broadcast]) -> list[int]:
        """Each broadcast through ``sio.emit``, one socket write per client for the lot."""
        with self.fanout.coalescing() as counts:
            for b in batch:
                await self.sio.emit(b.event, Encoded(b.payload_json, b.seq), to=b.room)
        return counts

    def room_size(self, room: str | None) -> int:
        return self.fanout.room_size(room)

    @property
    def client_count(self) -> int:
        return self.room_size(None)

    # -- connection ----------------------------------------------------------------

    async def on_connect(self, sid: str, environ: dict[str, Any], auth: Any = None) -> Any:
        eio_sid = self.fanout.eio_sid_from_sid(sid, NAMESPACE)
        if not self.engine.is_open(eio_sid):
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
        fmt = _requested_format(auth, self.settings.event_format)
        self.engine.connected(eio_sid)  # no connect timeout any more
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
                    await self.sio.emit(Event.EVENTS_RESET, missed.payload(), to=sid)
                    self.resets_sent += 1
                else:
                    for seq, event, body in missed:
                        await self.sio.emit(event, Encoded(body, seq), to=sid)
                    self.replays_served += 1
            if greeting is not None:
                await self.sio.emit(Event.PROXY_STATUS, greeting, to=sid)
        except Exception:
            log.exception("could not welcome %s", sid)
        finally:
            await self.fanout.release(sid, after_seq=upper)

    def _greeting_for(self, upper: int) -> Encoded:
        """``proxy:status`` as of ``upper``, encoded once for every client that connects
        within a second of it: a thousand dashboards reconnecting after a restart then
        cost one encoding, not a thousand. The same bytes serve both formats."""
        cached = self._greeting_cache
        now = time.monotonic()
        if cached is not None and cached[0] == upper and now - cached[1] < GREETING_MAX_AGE:
            return cached[2]
        assert self._greeting is not None
        seq, body = self._greeting()
        encoded = Encoded(body, seq)
        self._greeting_cache = (seq, now, encoded)
        return encoded

    async def on_disconnect(self, sid: str, reason: Any = None) -> None:
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
        await self.engine.close(timeout)
        for task in list(self._tasks):
            task.cancel()
        await self.sio.shutdown()


def _requested_format(auth: Any, default: Format) -> Format:
    """``auth.format`` (else the server's ``--event-format``); an unknown one refuses
    the connection."""
    value = auth.get("format") if isinstance(auth, dict) else None
    if value is None:
        return default
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
