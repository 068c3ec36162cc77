"""engine.io's aiohttp websocket, made non-blocking, bounded and compression-optional.

Three changes to python-engineio's stock transport, each for a measured reason:

- **Compression is a setting** (off by default): aiohttp's default ``compress=True``
  deflates every frame once per client, which costs more CPU than the whole fan-out.
- **Sends never block.** The stock writer awaits aiohttp's drain after each frame, so a
  client that stops reading stalls its writer forever while engine.io's per-socket
  queue grows without bound. Here a send writes the frame to the transport at once and
  checks the transport's buffer instead: a client whose *unsent* bytes or messages are
  over the bound has its transport aborted (a client that stopped reading never
  completes a graceful close) and recovers by replay when it reconnects. Only what is
  already waiting counts, so one event larger than the bound still reaches a client
  that reads.
- **Frames can be written directly.** ``write_frame`` takes a frame built once per
  broadcast; ``poll`` is replaced for upgraded sockets by a plain ``queue.get`` (no
  ``wait_for`` task per packet) whose dequeue and write happen in one step, so "the
  queue is empty" means "nothing is in flight" and a direct write cannot overtake a
  queued packet.

It also closes what engine.io's stock handler leaves open: a packet that does not
decode, or an engine.io CLOSE, ends the transport at once (a session lives exactly as
long as its transport), and a second websocket opened for a session that is already
upgrading is closed, as Node's engine.io does, instead of taking over its delivery.

And ``Heartbeat`` sends every session's pings from one task (see there).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import math
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from aiohttp import WSCloseCode, WSMsgType, web
from engineio import exceptions as engineio_exceptions
from engineio import packet as eio_packet
from engineio.async_drivers.aiohttp import WebSocket as StockWebSocket

from server.realtime.fanout import Outgoing

log = logging.getLogger("modeldeck.socket")


@dataclass(frozen=True)
class QueueLimits:
    """How far a client may fall behind before it is cut off."""

    max_messages: int
    max_bytes: int


def text_frame(payload: bytes) -> bytes:
    """An unmasked, final websocket text frame (RFC 6455 §5.2) around ``payload``."""
    size = len(payload)
    if size < 126:
        header = bytes((0x81, size))
    elif size < 1 << 16:
        header = bytes((0x81, 126)) + size.to_bytes(2, "big")
    else:
        header = bytes((0x81, 127)) + size.to_bytes(8, "big")
    return header + payload


class FrameText(str):
    """An encoded engine.io packet that also carries its websocket frame, built once."""

    __slots__ = ("frame",)
    frame: bytes

    def __new__(cls, text: str, encoded: bytes | None = None) -> FrameText:
        """``encoded``, when given, is ``text`` already as UTF-8 (saves encoding again)."""
        self = super().__new__(cls, text)
        self.frame = text_frame(encoded if encoded is not None else text.encode())
        return self


class WebSocketRegistry:
    """Open websocket transports: by engine.io sid for delivery, all of them for shutdown.

    ``by_eio_sid`` holds only websockets engine.io has accepted (a fresh connection, or
    an upgrade once the client confirmed it); ``open`` holds every websocket still
    being served, including one in the middle of an upgrade.
    """

    def __init__(self) -> None:
        self.by_eio_sid: dict[str, TrackedWebSocket] = {}
        self.open: set[TrackedWebSocket] = set()
        self.on_overflow: Callable[[str, str], None] = lambda sid, reason: None
        self.high_water_bytes = 0

    async def close_all(self, timeout: float) -> None:
        """Close every websocket with 1001 (going away); abort those that do not answer.

        A closed transport, unlike a Socket.IO DISCONNECT, makes socket.io-client and
        python-socketio reconnect by themselves (and replay with ``auth.lastSeq``).
        """
        sockets = list(self.open)
        if not sockets:
            return
        closing = [asyncio.ensure_future(ws.going_away()) for ws in sockets]
        _, pending = await asyncio.wait(closing, timeout=timeout)
        for task in pending:
            task.cancel()
        for ws in sockets:
            ws.abort()


class Wire(eio_packet.Packet):  # type: ignore[misc]
    """An engine.io MESSAGE whose encoding (and websocket frame) is already known."""

    def __init__(self, packet: bytes) -> None:
        text = FrameText(packet.decode(), packet)
        super().__init__(eio_packet.MESSAGE, data=text[1:])
        self.text = text

    def encode(self, b64: bool = False) -> FrameText | Any:
        return self.text if not b64 else super().encode(b64)


def wire_of(outgoing: Outgoing) -> Wire:
    """The packet of ``outgoing``, built once for all its recipients."""
    wire = outgoing.wire
    if not isinstance(wire, Wire):
        wire = outgoing.wire = Wire(outgoing.packet())
    return wire


class TrackedWebSocket(StockWebSocket):  # type: ignore[misc]
    compress: bool = False
    direct: bool = False  # frames may bypass aiohttp's writer (set once connected)
    limits: QueueLimits
    registry: WebSocketRegistry

    async def __call__(self, environ: dict[str, Any]) -> web.WebSocketResponse:
        request: web.Request = environ["aiohttp.request"]
        self._request = request
        self._pending = 0
        # aiohttp refuses a message of exactly max_msg_size (it checks ``>=``), while
        # engine.io's maxPayload is the largest size allowed: one byte more.
        self._sock = web.WebSocketResponse(
            max_msg_size=self.server.max_http_buffer_size + 1, compress=self.compress
        )
        await self._sock.prepare(request)
        # Fixed for the connection's life; read once here, not once per delivery.
        self._transport = request.transport
        self.direct = not self._sock.compress  # deflate negotiated: aiohttp must frame
        self.environ = environ
        eio_socket = self.handler.__self__
        self.eio_sid: str = eio_socket.sid
        self._eio_socket = eio_socket
        self.registry.open.add(self)
        try:
            if eio_socket.connected and (eio_socket.upgrading or eio_socket.upgraded):
                # Another websocket is upgrading this session (checked with no await
                # before the handler marks it upgrading): refuse this one, as Node does.
                log.info("closing a second websocket for session %s", self.eio_sid)
                return self._sock
            if eio_socket.connected or not self.direct:
                # An upgrade from long-polling (packets may still be queued for the
                # poll), or deflate: engine.io's own handler, with the fast poll. The
                # websocket is registered for delivery once the upgrade is accepted.
                install_poll(eio_socket)
                await self.handler(self)
            else:
                self._register()
                await self._serve(eio_socket)
        finally:
            self.registry.open.discard(self)
            if self.registry.by_eio_sid.get(self.eio_sid) is self:
                del self.registry.by_eio_sid[self.eio_sid]
            if not self._sock.closed:
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(self._sock.close(), timeout=1.0)
        return self._sock

    def _register(self) -> None:
        self.registry.by_eio_sid[self.eio_sid] = self

    async def wait(self) -> Any:
        """engine.io's handler reads through this; once it has accepted the upgrade
        (``upgraded`` set by this websocket's own handler), deliveries may come here."""
        eio_socket = self._eio_socket
        if eio_socket.upgraded and self.eio_sid not in self.registry.by_eio_sid:
            self._register()
        if eio_socket.closed:
            return None  # CLOSE received: end the handler's loop, and with it the transport
        data = await super().wait()
        if self._decode(data) is None:
            # The stock handler would raise and leave the session open; and ending its
            # loop is not enough: it can be cancelled before its own close runs.
            await eio_socket.close(
                wait=False, abort=True, reason=eio_socket.server.reason.TRANSPORT_ERROR
            )
            return None
        return data

    def _decode(self, data: str | bytes) -> eio_packet.Packet | None:
        """The engine.io packet in ``data``, or None (logged) if it is not one."""
        try:
            packet = eio_packet.Packet(encoded_packet=data)
        except (ValueError, IndexError, TypeError) as exc:
            log.debug("invalid engine.io packet on %s (%s): closing", self.eio_sid, exc)
            return None
        if not 0 <= packet.packet_type < len(eio_packet.packet_names):
            log.debug("unknown engine.io packet type on %s: closing", self.eio_sid)
            return None
        return packet

    async def going_away(self) -> None:
        """Close with 1001: the server is shutting down, the client should reconnect."""
        with contextlib.suppress(Exception):
            await self._sock.close(code=WSCloseCode.GOING_AWAY, message=b"server shutting down")

    async def _serve(self, eio_socket: Any) -> None:
        """engine.io over a fresh websocket, without engine.io's writer and reader tasks.

        Every packet engine.io or Socket.IO sends (the handshake, acks, replies, pings)
        is written at once by ``_send_packet``, so no writer task and no queue are
        needed; the reader awaits the websocket directly instead of through a task per
        message. Two tasks and their coroutine chains less per connected client.
        """
        server = eio_socket.server
        eio_socket.connected = eio_socket.upgraded = True
        queue: asyncio.Queue[Any] = eio_socket.queue
        while not queue.empty():  # the OPEN packet, queued before the transport existed
            packet = queue.get_nowait()
            queue.task_done()
            if packet is not None:
                await self._send_packet(eio_socket, packet)

        async def send(packet: Any) -> None:
            await self._send_packet(eio_socket, packet)

        eio_socket.send = send
        try:
            while True:
                # No timeout here: a client that stops answering pings is closed by
                # engine.io's monitor (ping timeout), and the engine then aborts this
                # transport. A timeout per message would leave a timer and its chain
                # alive per client between two pongs, for the collector to promote.
                message = await self._sock.receive()
                if message.type not in (WSMsgType.TEXT, WSMsgType.BINARY):
                    break  # close, closing, closed or error
                if len(message.data) > server.max_http_buffer_size:
                    break
                packet = self._decode(message.data)
                if packet is None:
                    break  # not engine.io: close at once, as Node does
                try:
                    await eio_socket.receive(packet)
                except engineio_exceptions.UnknownPacketError:
                    pass
                except engineio_exceptions.SocketIsClosedError:
                    break
                except Exception:  # one bad packet must not end the connection silently
                    log.exception("engine.io receive error on %s", self.eio_sid)
                if eio_socket.closed:
                    break  # the client sent CLOSE: nothing may arrive on this session now
        finally:
            await eio_socket.close(wait=False, abort=True, reason=server.reason.TRANSPORT_CLOSE)
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._sock.close(), timeout=1.0)
            self.abort()

    async def _send_packet(self, eio_socket: Any, packet: Any) -> None:
        """What ``AsyncSocket.send`` does, minus the queue: check liveness, write now."""
        if not await eio_socket.check_ping_timeout():
            return
        await self.send(packet.encode())

    async def send(self, message: str | bytes) -> None:
        """engine.io's writer calls this; it never waits for the client to read."""
        if not self.direct or isinstance(message, bytes):
            await super().send(message)
            return
        frame = message.frame if isinstance(message, FrameText) else text_frame(message.encode())
        self.write_frame(frame)

    def write_frame(self, frame: bytes, messages: int = 1) -> bool:
        """Write prebuilt frame(s) holding ``messages`` messages; cut the client off if
        it is too far behind."""
        transport = self._transport
        if transport is None or transport.is_closing():
            return False
        buffered = transport.get_write_buffer_size()
        if buffered == 0:
            self._pending = 0
        elif buffered > self.registry.high_water_bytes:
            self.registry.high_water_bytes = buffered
        limits = self.limits
        # Only what is still unsent counts: the frame being written is not "behind",
        # and counting it would cut off, again after every reconnect, a client that
        # reads fine but is sent one event larger than the bound.
        if buffered > limits.max_bytes or self._pending > limits.max_messages:
            reason = (
                f"slow consumer: {self._pending} messages / {buffered} bytes unsent "
                f"(limits {limits.max_messages} / {limits.max_bytes})"
            )
            log.warning("disconnecting %s: %s", self.eio_sid, reason)
            self.registry.on_overflow(self.eio_sid, reason)
            self.abort()
            return False
        transport.write(frame)
        self._pending += messages
        return True

    def abort(self) -> None:
        transport = self._request.transport
        if transport is not None:
            with contextlib.suppress(Exception):
                transport.abort()


#: Put on a session's queue at shutdown: its long-poll is answered with an error (the
#: session ends, the client reconnects) instead of an engine.io CLOSE, after which
#: python-socketio's client would not reconnect.
END_POLL: Any = object()


def end_polling(eio_socket: Any) -> None:
    """End a long-polling session's transport: its pending (or next) poll fails."""
    eio_socket.queue.put_nowait(END_POLL)


def install_poll(eio_socket: Any) -> None:
    """Replace the session's ``poll``: ``END_POLL`` support, and for the websocket writer
    no ``wait_for`` task and no idle timeout.

    The stock poll wraps ``queue.get`` in ``asyncio.wait_for`` (a task per packet on
    Python 3.11), and its idle timeout is redundant: engine.io's ping loop already
    detects dead clients. Installed once per session (at connect, and again harmlessly
    by an upgrade).
    """
    if getattr(eio_socket, "_modeldeck_poll", False):
        return
    stock_poll = eio_socket.poll
    queue: asyncio.Queue[Any] = eio_socket.queue

    async def poll() -> list[Any]:
        if not eio_socket.upgraded:
            polled: list[Any] = await stock_poll()  # long-polling keeps engine.io's logic
            if any(p is END_POLL for p in polled):
                before = polled[: next(i for i, p in enumerate(polled) if p is END_POLL)]
                if before:
                    queue.put_nowait(END_POLL)  # deliver these first; end the next poll
                    return before
                # engine.io closes the session and answers the poll with 400.
                raise engineio_exceptions.QueueEmpty()
            return polled
        packets = [await queue.get()]
        queue.task_done()
        while not queue.empty():
            packets.append(queue.get_nowait())
            queue.task_done()
        for index, packet in enumerate(packets):
            if packet is None or packet is END_POLL:
                queue.put_nowait(None)  # keep the close marker for anyone else waiting
                return packets[:index]
        return packets

    eio_socket.poll = poll
    eio_socket._modeldeck_poll = True


def websocket_class(
    compress: bool, limits: QueueLimits, registry: WebSocketRegistry
) -> type[TrackedWebSocket]:
    """A per-server subclass, so settings never leak between apps in one process."""
    return type(
        "ModeldeckWebSocket",
        (TrackedWebSocket,),
        {"compress": compress, "limits": limits, "registry": registry},
    )


class Heartbeat:
    """Every session's pings from one task, instead of engine.io's task per session.

    engine.io schedules each ping as a background task that sleeps ``ping_interval``,
    made anew after every pong: with 1,000 clients, 1,000 tasks with their coroutines,
    futures and timers, each alive for a whole interval (about 2 KB of a client's 27 KB,
    and objects the garbage collector keeps moving into its oldest generation). Here
    ``schedule`` (installed as the session's ``schedule_ping``) only files the session
    under the tick it is due in, and one task wakes each tick and pings what is due, as
    ``AsyncSocket._send_ping`` does. Unanswered pings are still engine.io's to act on
    (its monitor task closes the session).
    """

    def __init__(self, interval: float) -> None:
        self.interval = interval
        self.tick = min(1.0, interval / 4)
        self._due: defaultdict[int, list[Any]] = defaultdict(list)
        self._task: asyncio.Task[None] | None = None

    def install(self, eio_socket: Any) -> None:
        eio_socket.schedule_ping = functools.partial(self.schedule, eio_socket)

    def schedule(self, eio_socket: Any) -> None:
        """engine.io's rule: a new ping only once the last one was answered (or at start)."""
        if not eio_socket.last_ping:
            return
        eio_socket.last_ping = None
        due = math.ceil((time.monotonic() + self.interval) / self.tick)
        self._due[due].append(eio_socket)
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self._run(), name="heartbeat")

    async def _run(self) -> None:
        while self._due:
            await asyncio.sleep(self.tick)
            now = math.floor(time.monotonic() / self.tick)
            for tick in sorted(t for t in self._due if t <= now):
                for eio_socket in self._due.pop(tick):
                    await self._ping(eio_socket)

    @staticmethod
    async def _ping(eio_socket: Any) -> None:
        if eio_socket.closing or eio_socket.closed:
            return
        eio_socket.last_ping = time.time()
        try:
            await eio_socket.send(eio_packet.Packet(eio_packet.PING))
        except Exception as exc:  # one session's failure must not stop the others' pings
            log.debug("ping to %s failed: %r", getattr(eio_socket, "sid", "?"), exc)

    async def stop(self) -> None:
        self._due.clear()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
