"""Every reliance on python-engineio's and python-socketio's internals, in one module.

The fast path writes each broadcast, encoded and framed once, straight to every
upgraded websocket, bounds what a client may leave unsent, hardens the transport
(``transport.py``, engine.io's aiohttp websocket driver subclassed) and ends a session
with its transport. That needs engine.io's session object (``AsyncSocket``: its
queue, its flags, ``poll``/``send``/``close``), its websocket driver and its handler
table — none of them public API. They are used here and in ``transport.py`` (loaded by
this module alone, once the check has passed), typed by :class:`EngineSession`, and
:func:`check` probes each of them at start-up against the installed versions
(``constraints.txt`` pins the minor versions tested).

When a probe fails, or ``MODELDECK_FAST_PATH=0`` / ``--no-fast-path``, the server
runs on the stock path instead (:class:`StockEngine`): python-socketio's own
``AsyncManager.emit`` and engine.io's own transport. Delivery, order, holds and
catch-up stay the same; what only the fast path adds is listed in the README
("Fast path and fallback"). Not thread-safe: one event loop.

The socket input guard (``packet_guard.py``, ``polling_limit.py``: python-socketio's
private packet dispatchers overridden, engine.io's request translation wrapped) is
checked here too (:func:`guard_check`) and loaded by :func:`socket_server` alone; it is
independent of the delivery path, and when its probe fails the server is
python-socketio's stock one.
"""

from __future__ import annotations

import asyncio
import importlib
import inspect
import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import TYPE_CHECKING, Any, Protocol

import socketio
from aiohttp import web
from engineio import async_socket
from engineio import packet as eio_packet

from server.realtime.fanout import NAMESPACE, Outgoing, Stats

if TYPE_CHECKING:
    from server.realtime.transport import WebSocketRegistry

log = logging.getLogger("modeldeck.socket")

EioHandler = Callable[..., Awaitable[Any]]


class EngineSession(Protocol):
    """engine.io's ``AsyncSocket`` as this module uses it (checked by :func:`check`)."""

    sid: str
    queue: asyncio.Queue[Any]
    connected: bool
    upgrading: bool
    upgraded: bool
    closing: bool
    closed: bool

    async def close(self, wait: bool = ..., abort: bool = ..., reason: Any = ...) -> None: ...


# -- the start-up check --------------------------------------------------------------


def check(sio: socketio.AsyncServer) -> list[str]:
    """What the fast path needs but the installed engine.io/python-socketio lack.

    Probes shapes and behaviour, not version numbers: the driver table, the handler
    table, a fresh session's queue and flags, the method signatures called, a packet's
    encoding and the manager's rooms. An empty list means the fast path may run.
    """
    problems: list[str] = []

    def need(ok: bool, what: str) -> None:
        if not ok:
            problems.append(what)

    try:  # it subclasses engine.io's websocket driver and packet when it loads
        transport = importlib.import_module("server.realtime.transport")
    except Exception as exc:
        return [f"the fast path's transport does not load: {exc!r}"]
    stock_websocket = transport.StockWebSocket
    eio = sio.eio
    drivers = getattr(eio, "_async", None)
    driver = drivers.get("websocket") if isinstance(drivers, dict) else None
    need(
        isinstance(driver, type) and issubclass(driver, stock_websocket),
        "eio._async['websocket'] is not engine.io's aiohttp WebSocket driver",
    )
    _need_params(need, stock_websocket.__init__, {"handler", "server"}, "WebSocket.__init__")
    _need_params(need, stock_websocket.__call__, {"environ"}, "WebSocket.__call__")
    for name in ("wait", "send"):
        need(inspect.iscoroutinefunction(getattr(stock_websocket, name, None)), f"WebSocket.{name}")
    handlers = getattr(eio, "handlers", None)
    need(
        isinstance(handlers, dict) and {"connect", "message", "disconnect"} <= handlers.keys(),
        "eio.handlers lacks python-socketio's connect/message/disconnect",
    )
    need(isinstance(getattr(eio, "sockets", None), dict), "eio.sockets is not a dict")
    for reason in ("CLIENT_DISCONNECT", "SERVER_DISCONNECT", "TRANSPORT_CLOSE", "PING_TIMEOUT"):
        need(hasattr(getattr(eio, "reason", None), reason), f"eio.reason.{reason}")
    try:
        session = async_socket.AsyncSocket(eio, "probe")
    except Exception as exc:
        problems.append(f"AsyncSocket(server, sid) failed: {exc!r}")
    else:
        need(isinstance(getattr(session, "queue", None), asyncio.Queue), "AsyncSocket.queue")
        for flag in ("connected", "upgrading", "upgraded", "closing", "closed"):
            need(getattr(session, flag, None) is False, f"AsyncSocket.{flag} is not False at start")
        # Heartbeat: a fresh session counts as having just been pinged (so the first
        # schedule_ping schedules), and engine.io's monitor acts on unanswered pings.
        need(bool(getattr(session, "last_ping", None)), "AsyncSocket.last_ping is not set at start")
        need(isinstance(getattr(eio, "ping_interval", None), int | float), "eio.ping_interval")
        need(getattr(eio, "start_service_task", False) is True, "engine.io's client monitor is off")
    methods = {
        "close": {"wait", "abort", "reason"},
        "send": {"pkt"},
        "receive": {"pkt"},
        "poll": set(),
        "check_ping_timeout": set(),
        "schedule_ping": set(),
    }
    for name, params in methods.items():
        method = getattr(async_socket.AsyncSocket, name, None)
        _need_params(need, method, params, f"AsyncSocket.{name}")
    try:
        wire = transport.Wire(b'42["probe",{"seq":1}]')
        need(wire.encode() == '42["probe",{"seq":1}]', "a MESSAGE packet does not encode as 4…")
        parsed = eio_packet.Packet(encoded_packet="4x")
        need(parsed.packet_type == eio_packet.MESSAGE and parsed.data == "x", "packet decoding")
    except Exception as exc:
        problems.append(f"engine.io packets: {exc!r}")
    try:
        rooms = socketio.AsyncManager()
        rooms.basic_enter_room("s", NAMESPACE, None, eio_sid="e")
        rooms.basic_enter_room("s", NAMESPACE, "room")
        need(list(rooms.get_participants(NAMESPACE, "room")) == [("s", "e")], "get_participants")
        need(rooms.eio_sid_from_sid("s", NAMESPACE) == "e", "manager.eio_sid_from_sid")
        need(rooms.sid_from_eio_sid("e", NAMESPACE) == "s", "manager.sid_from_eio_sid")
        layout = rooms.rooms.get(NAMESPACE, {})
        need(len(layout.get("room", ())) == 1 and len(layout.get(None, ())) == 1,
             "manager.rooms is not rooms[namespace][room][sid] = eio_sid")  # fmt: skip
    except Exception as exc:
        problems.append(f"the client manager's rooms: {exc!r}")
    return problems


def _need_params(
    need: Callable[[bool, str], None], function: Any, params: set[str], name: str
) -> None:
    try:
        found = set(inspect.signature(function).parameters)
    except (TypeError, ValueError):
        need(False, f"{name} is missing")
        return
    need(params <= found, f"{name} lacks parameter(s) {', '.join(sorted(params - found))}")


# -- the input guard -----------------------------------------------------------------

#: python-socketio and python-engineio log through these; INFO there is a line per packet.
LIBRARY_LOGGERS = ("modeldeck.socketio", "modeldeck.engineio")

#: python-socketio's per-packet dispatchers ``packet_guard.GuardedServer`` overrides or
#: calls, with the parameters it passes.
_GUARD_METHODS: dict[str, set[str]] = {
    "_handle_eio_message": {"eio_sid", "data"},
    "_handle_event_internal": {"server", "sid", "eio_sid", "data", "namespace", "id"},
    "_handle_connect": {"eio_sid", "namespace", "data"},
    "_handle_disconnect": {"eio_sid", "namespace", "reason"},
    "_handle_ack": {"eio_sid", "namespace", "id", "data"},
    "_handle_event": {"eio_sid", "namespace", "id", "data"},
    "_send_packet": {"eio_sid", "pkt"},
}


#: What python-engineio's own websocket loop logs, with a traceback, when a client sent
#: a packet it cannot take (e.g. an unknown packet type); it then closes that socket.
_STOCK_RECEIVE_ERROR = "Unknown receive error"


def _quiet_client_errors(record: logging.LogRecord) -> bool:
    """engine.io's traceback for a client's bad packet becomes one debug line: hostile
    input must not grow the log by a traceback per connection (the fast path's
    transport closes such a socket itself and logs the same way)."""
    if record.msg != _STOCK_RECEIVE_ERROR:
        return True
    error = record.exc_info[1] if record.exc_info else None
    log.debug("engine.io closed a websocket on a packet it could not take: %r", error)
    return False


def library_logger(name: str) -> logging.Logger:
    """A logger for python-socketio/engineio: warnings and errors only, no own handler."""
    logger = logging.getLogger(name)
    logger.setLevel(logging.WARNING)
    if _quiet_client_errors not in logger.filters:
        logger.addFilter(_quiet_client_errors)
    return logger


def guard_check() -> list[str]:
    """What the input guard (``packet_guard``, ``polling_limit``) needs but the installed
    python-socketio/engine.io lack: the private dispatchers it overrides and calls, the
    packet classes it decodes with, and engine.io's request translation it wraps."""
    problems: list[str] = []

    def need(ok: bool, what: str) -> None:
        if not ok:
            problems.append(what)

    for name, params in _GUARD_METHODS.items():
        method = getattr(socketio.AsyncServer, name, None)
        need(inspect.iscoroutinefunction(method), f"AsyncServer.{name} is not a coroutine")
        _need_params(need, method, params, f"AsyncServer.{name}")
    try:
        from engineio import payload as eio_payload
        from socketio import packet as sio_packet

        pkt = sio_packet.Packet(encoded_packet='21["probe",{}]')
        need(
            pkt.packet_type == sio_packet.EVENT and pkt.id == 1 and pkt.data == ["probe", {}]
            and pkt.attachment_count == 0 and pkt.namespace in (None, "/"),
            "Socket.IO packet decoding",
        )  # fmt: skip
        for kind in ("CONNECT", "DISCONNECT", "EVENT", "ACK", "BINARY_EVENT", "BINARY_ACK"):
            need(hasattr(sio_packet, kind), f"socketio.packet.{kind}")
        decoded = eio_payload.Payload(encoded_payload="4x\x1e2").packets
        need([p.packet_type for p in decoded] == [eio_packet.MESSAGE, eio_packet.PING],
             "engine.io payload decoding")  # fmt: skip
        probe = socketio.AsyncServer(async_mode="aiohttp", logger=False, engineio_logger=False)
        need(probe.packet_class is sio_packet.Packet, "AsyncServer.packet_class")
        for reason in ("CLIENT_DISCONNECT", "SERVER_DISCONNECT"):
            need(hasattr(probe.reason, reason), f"AsyncServer.reason.{reason}")
        drivers = getattr(probe.eio, "_async", None)
        need(
            isinstance(drivers, dict) and callable(drivers.get("translate_request")),
            "eio._async['translate_request']",
        )
        need(isinstance(getattr(probe.eio, "max_http_buffer_size", None), int),
             "eio.max_http_buffer_size")  # fmt: skip
        need(isinstance(getattr(probe.eio, "sockets", None), dict), "eio.sockets is not a dict")
        session = async_socket.AsyncSocket(probe.eio, "probe")
        need(getattr(session, "upgraded", None) is False, "AsyncSocket.upgraded")
        need(isinstance(getattr(session, "queue", None), asyncio.Queue), "AsyncSocket.queue")
    except Exception as exc:
        problems.append(f"python-socketio/engine.io packets and server: {exc!r}")
    return problems


def socket_server(notes: list[tuple[int, str]], **kwargs: Any) -> socketio.AsyncServer:
    """python-socketio's server, guarded against malformed input when the installed
    versions have what the guard needs (:func:`guard_check`); otherwise the stock
    server, with a warning appended to ``notes`` (logged once logging is configured)."""
    kwargs.setdefault("logger", library_logger(LIBRARY_LOGGERS[0]))
    kwargs.setdefault("engineio_logger", library_logger(LIBRARY_LOGGERS[1]))
    problems = guard_check()
    if not problems:
        try:  # it subclasses python-socketio's server when it loads
            packet_guard = importlib.import_module("server.realtime.packet_guard")
        except Exception as exc:
            problems = [f"the input guard does not load: {exc!r}"]
        else:
            server: socketio.AsyncServer = packet_guard.GuardedServer(**kwargs)
            return server
    notes.append((
        logging.WARNING,
        "socket input guard off: the installed python-socketio/python-engineio differ "
        "from what it was tested with (constraints.txt): " + "; ".join(problems)
        + "; malformed packets get python-socketio's stock handling",
    ))  # fmt: skip
    return socketio.AsyncServer(**kwargs)


def guard_websockets(sio: socketio.AsyncServer, websockets: WebSocketRegistry | None) -> None:
    """Let the guard cut a refused client's websocket at once (fast path's registry)."""
    if websockets is not None and hasattr(sio, "websockets"):
        sio.websockets = websockets.by_eio_sid


# -- the engines ---------------------------------------------------------------------


class StockEngine:
    """The stock path: nothing of engine.io's internals is touched.

    Shutdown aborts each socket.io request's TCP connection (aiohttp's public request
    API), so clients see a dropped transport and reconnect by themselves.
    """

    fast = False
    websockets: WebSocketRegistry | None = None  # engine.io's own websockets
    high_water_bytes = 0  # not measured: engine.io's writer owns the transport

    def __init__(self, sio: socketio.AsyncServer) -> None:
        self.sio = sio
        self._transports: set[asyncio.Transport] = set()

    def attach(self, app: web.Application, path: str = "/socket.io/") -> None:
        for method in ("GET", "POST", "OPTIONS"):
            app.router.add_route(method, path, self._handle)

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        transport = request.transport
        if transport is not None:
            self._transports.add(transport)
        try:
            response: web.StreamResponse = await self.sio.handle_request(request)
            return response
        except Exception as exc:
            if request.headers.get("Upgrade", "").lower() != "websocket":
                raise
            # engine.io's stock websocket loop lets a frame it cannot decode escape: the
            # client sent garbage, and its socket is gone. One debug line, no traceback.
            log.debug("websocket closed on a frame engine.io could not decode: %r", exc)
            raise web.HTTPBadRequest(text="malformed engine.io packet") from None
        finally:
            self._transports.discard(transport)

    def deliver(self, eio_sid: str, outgoing: Sequence[Outgoing]) -> bool:
        raise NotImplementedError("the stock path sends through AsyncManager.emit")

    def is_open(self, eio_sid: str | None) -> bool:
        return eio_sid is not None

    def connected(self, eio_sid: str | None) -> None:
        """Nothing to do: the connect timeout needs engine.io's session table."""

    async def cut_off(self, eio_sid: str, reason: str) -> None:
        log.warning("disconnecting %s: %s", eio_sid, reason)
        await self.sio.eio.disconnect(eio_sid)

    async def close(self, timeout: float) -> None:
        for transport in list(self._transports):
            transport.abort()


class FastEngine:
    """The fast path: direct writes, bounded transports, sessions tied to transports.

    Installs the transport and wraps python-socketio's engine.io handlers; the
    wrappers add a connect timeout (Node's ``connectTimeout``), drop what arrives for
    a closed session, answer a closed session's pending long-poll at once, and close
    the websocket of a session engine.io ended for an unanswered ping. Every session's
    pings come from one ``Heartbeat``.
    """

    fast = True

    def __init__(
        self,
        sio: socketio.AsyncServer,
        *,
        compress: bool,
        max_messages: int,
        max_bytes: int,
        connect_timeout: float,
        stats: Stats,
    ) -> None:
        from server.realtime import transport  # loads only once check() has passed

        self._transport = transport
        self.sio = sio
        self.eio = sio.eio
        self.limits = limits = transport.QueueLimits(max_messages, max_bytes)
        self.stats = stats
        self.connect_timeout = connect_timeout
        self.websockets: WebSocketRegistry = transport.WebSocketRegistry()
        self.websockets.on_overflow = self._count_overflow
        self.eio._async = {
            **self.eio._async,
            "websocket": transport.websocket_class(compress, limits, self.websockets),
        }
        self._tasks: set[asyncio.Future[None]] = set()
        self._connect_deadlines: dict[str, asyncio.TimerHandle] = {}
        self.heartbeat = transport.Heartbeat(self.eio.ping_interval)
        handlers: dict[str, EioHandler] = self.eio.handlers
        self._eio_connect = handlers["connect"]
        self._eio_message = handlers["message"]
        self._eio_disconnect = handlers["disconnect"]
        self.eio.on("connect", self._on_eio_connect)
        self.eio.on("message", self._on_eio_message)
        self.eio.on("disconnect", self._on_eio_disconnect)

    def attach(self, app: web.Application, path: str = "/socket.io/") -> None:
        self.sio.attach(app, socketio_path=path)

    # -- sessions ----------------------------------------------------------------

    def _session(self, eio_sid: str | None) -> EngineSession | None:
        """The open session of ``eio_sid`` (None once it is closing or closed)."""
        session: EngineSession | None = self.eio.sockets.get(eio_sid) if eio_sid else None
        if session is None or session.closed or session.closing:
            return None
        return session

    def is_open(self, eio_sid: str | None) -> bool:
        return self._session(eio_sid) is not None

    def connected(self, eio_sid: str | None) -> None:
        """The session sent its Socket.IO CONNECT: it has no deadline any more."""
        deadline = self._connect_deadlines.pop(eio_sid, None) if eio_sid else None
        if deadline is not None:
            deadline.cancel()

    async def _on_eio_connect(self, eio_sid: str, environ: dict[str, Any]) -> Any:
        """A new engine.io session must send a Socket.IO CONNECT within the connect
        timeout, or it is closed: a client that only answers pings cannot hold one."""
        session = self.eio.sockets.get(eio_sid)
        if session is not None:
            self._transport.install_poll(session)
            self.heartbeat.install(session)  # engine.io schedules the first ping next
        loop = asyncio.get_running_loop()
        self._connect_deadlines[eio_sid] = loop.call_later(
            self.connect_timeout, self._connect_deadline, eio_sid
        )
        return await self._eio_connect(eio_sid, environ)

    async def _on_eio_message(self, eio_sid: str, data: Any) -> Any:
        """Drop what arrives for a closed session (e.g. ``1`` then ``40`` in one POST
        body): python-socketio would otherwise keep a session that no transport
        belongs to, and it would never be removed."""
        if self._session(eio_sid) is None:
            return None
        return await self._eio_message(eio_sid, data)

    async def _on_eio_disconnect(self, eio_sid: str, reason: Any) -> Any:
        """After the client's own CLOSE, answer its pending long-poll at once: engine.io
        would hold it until the ping timeout (45 s), and the client waits for it. After
        an unanswered ping, end the websocket: nothing else would (its reader waits
        without a timeout)."""
        result = await self._eio_disconnect(eio_sid, reason)
        session: EngineSession | None = self.eio.sockets.get(eio_sid)
        if session is not None and reason == self.eio.reason.CLIENT_DISCONNECT:
            session.queue.put_nowait(None)  # engine.io's own "no more packets" marker
        if reason == self.eio.reason.PING_TIMEOUT:
            ws = self.websockets.by_eio_sid.get(eio_sid)
            if ws is not None:
                log.info("closing %s: no answer to a ping within the ping timeout", eio_sid)
                ws.abort()
        return result

    def _connect_deadline(self, eio_sid: str) -> None:
        self._connect_deadlines.pop(eio_sid, None)
        session = self._session(eio_sid)
        if session is None or self.sio.manager.sid_from_eio_sid(eio_sid, NAMESPACE) is not None:
            return
        log.info("closing engine.io session %s: no Socket.IO CONNECT in time", eio_sid)
        self._spawn(self._close_session(eio_sid, session))

    async def _close_session(self, eio_sid: str, session: EngineSession) -> None:
        """engine.io's CLOSE, then the transport itself (a websocket stays open otherwise)."""
        await session.close(wait=False, abort=False, reason=self.eio.reason.SERVER_DISCONNECT)
        ws = self.websockets.by_eio_sid.get(eio_sid)
        if ws is not None:
            await ws.going_away()
            ws.abort()

    # -- delivery ----------------------------------------------------------------

    @property
    def high_water_bytes(self) -> int:
        return self.websockets.high_water_bytes

    def deliver(self, eio_sid: str, outgoing: Sequence[Outgoing]) -> bool:
        """Write ``outgoing`` to one client, in order, as one write when possible.

        On an upgraded websocket with nothing queued the frames go straight to the
        transport; otherwise (long-polling, or packets queued ahead) the same
        pre-encoded packets join engine.io's queue, so per-client order holds.
        """
        session = self._session(eio_sid)
        if session is None:
            return False
        queue = session.queue
        wire_of = self._transport.wire_of
        ws = self.websockets.by_eio_sid.get(eio_sid)
        if ws is not None and session.upgraded and ws.direct and queue.empty():
            if len(outgoing) == 1:
                frames = wire_of(outgoing[0]).text.frame
            else:
                frames = b"".join(wire_of(o).text.frame for o in outgoing)
            return ws.write_frame(frames, messages=len(outgoing))
        size = queue.qsize()
        if size + len(outgoing) > self.limits.max_messages:
            self._cut_off_now(eio_sid, f"slow consumer: {size} messages queued")
            return False
        for item in outgoing:
            queue.put_nowait(wire_of(item))
        self.stats.queue_high_water = max(self.stats.queue_high_water, size + len(outgoing))
        return True

    async def cut_off(self, eio_sid: str, reason: str) -> None:
        self._cut_off_now(eio_sid, reason)

    def _cut_off_now(self, eio_sid: str, reason: str) -> None:
        log.warning("disconnecting %s: %s", eio_sid, reason)
        self._count_overflow(eio_sid, reason)
        ws = self.websockets.by_eio_sid.get(eio_sid)
        if ws is not None:
            ws.abort()
            return
        session = self._session(eio_sid)
        if session is not None:
            # abort=True: no CLOSE packet, no waiting on a queue nobody drains.
            self._spawn(session.close(wait=False, abort=True))

    def _count_overflow(self, eio_sid: str, reason: str) -> None:
        self.stats.overflows += 1

    # -- lifecycle ---------------------------------------------------------------

    def _spawn(self, coro: Awaitable[None]) -> None:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def close(self, timeout: float) -> None:
        """End every transport within ``timeout`` (a failed poll, or a 1001 close)."""
        for handle in self._connect_deadlines.values():
            handle.cancel()
        self._connect_deadlines.clear()
        for eio_sid, session in list(self.eio.sockets.items()):
            if eio_sid not in self.websockets.by_eio_sid and not session.closed:
                # long-polling, or upgrading: its poll fails now
                self._transport.end_polling(session)
        await self.heartbeat.stop()
        await self.websockets.close_all(timeout)
        for task in list(self._tasks):
            task.cancel()
