"""engine.io's aiohttp websocket, made non-blocking, bounded and compression-optional.

Three changes to python-engineio's stock transport, each for a measured reason:

- **Compression is a setting** (off by default): aiohttp's default ``compress=True``
  deflates every frame once per client, which costs more CPU than the whole fan-out.
- **Sends never block.** The stock writer awaits aiohttp's drain after each frame, so a
  client that stops reading stalls its writer forever while engine.io's per-socket
  queue grows without bound. Here a send writes the frame to the transport at once and
  checks the transport's buffer instead: a client over the byte or message bound has
  its transport aborted (a client that stopped reading never completes a graceful
  close) and recovers by replay when it reconnects.
- **Frames can be written directly.** ``write_frame`` takes a frame built once per
  broadcast; ``poll`` is replaced for upgraded sockets by a plain ``queue.get`` (no
  ``wait_for`` task per packet) whose dequeue and write happen in one step, so "the
  queue is empty" means "nothing is in flight" and a direct write cannot overtake a
  queued packet.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from aiohttp import WSMsgType, web
from engineio import exceptions as engineio_exceptions
from engineio.async_drivers.aiohttp import WebSocket

from server.packet_guard import engineio_packet

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
    """Open websocket transports by engine.io sid; closes them all on shutdown."""

    def __init__(self) -> None:
        self.by_eio_sid: dict[str, TrackedWebSocket] = {}
        self.on_overflow: Callable[[str, str], None] = lambda sid, reason: None
        self.high_water_bytes = 0

    async def close_all(self, timeout: float) -> None:
        """Close every websocket; abort the transports of those that do not answer."""
        sockets = list(self.by_eio_sid.values())
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
    direct: bool = False  # frames may bypass aiohttp's writer (set once connected)
    limits: QueueLimits
    registry: WebSocketRegistry

    async def __call__(self, environ: dict[str, Any]) -> web.WebSocketResponse:
        request: web.Request = environ["aiohttp.request"]
        self._request = request
        self._pending = 0
        self._sock = web.WebSocketResponse(
            max_msg_size=self.server.max_http_buffer_size, compress=self.compress
        )
        await self._sock.prepare(request)
        # Fixed for the connection's life; read once here, not once per delivery.
        self._transport = request.transport
        self.direct = not self._sock.compress  # deflate negotiated: aiohttp must frame
        self.environ = environ
        eio_socket = self.handler.__self__
        self.eio_sid: str = eio_socket.sid
        self.registry.by_eio_sid[self.eio_sid] = self
        try:
            if eio_socket.connected or not self.direct:
                # An upgrade from long-polling (packets may still be queued for the
                # poll), or deflate: engine.io's own handler, with the fast poll.
                _install_fast_poll(eio_socket)
                await self.handler(self)
            else:
                await self._serve(eio_socket)
        finally:
            if self.registry.by_eio_sid.get(self.eio_sid) is self:
                del self.registry.by_eio_sid[self.eio_sid]
        return self._sock

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
        idle_limit = server.ping_interval + server.ping_timeout
        try:
            while True:
                try:
                    message = await self._sock.receive(timeout=idle_limit)
                except TimeoutError:
                    break  # no pong for a whole ping cycle: the client is gone
                if message.type not in (WSMsgType.TEXT, WSMsgType.BINARY):
                    break  # close, closing, closed or error
                if len(message.data) > server.max_http_buffer_size:
                    break
                packet = engineio_packet(message.data)
                if packet is None:  # not engine.io at all: a broken or hostile client
                    log.debug("closing %s: frame is not an engine.io packet", self.eio_sid)
                    break
                try:
                    await eio_socket.receive(packet)
                except engineio_exceptions.UnknownPacketError:
                    pass
                except engineio_exceptions.SocketIsClosedError:
                    break
                except Exception:  # one bad packet must not end the connection silently
                    log.exception("engine.io receive error on %s", self.eio_sid)
        finally:
            await eio_socket.close(wait=False, abort=True, reason=server.reason.TRANSPORT_CLOSE)
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._sock.close(), timeout=1.0)
            self.abort()

    async def wait(self) -> str | bytes:
        """The next frame for engine.io's own reader (upgraded sockets); a frame that is
        not engine.io ends the session quietly (engine.io's reader would raise). The
        session is closed here: engine.io's handler may be cancelled before it does."""
        data: str | bytes = await super().wait()
        if engineio_packet(data) is None:
            log.debug("closing %s: frame is not an engine.io packet", self.eio_sid)
            eio_socket = self.handler.__self__
            await eio_socket.close(
                wait=False, abort=True, reason=eio_socket.server.reason.TRANSPORT_ERROR
            )
            raise OSError("not an engine.io packet")
        return data

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
        pending = self._pending + messages
        if buffered + len(frame) > limits.max_bytes or pending > limits.max_messages:
            reason = (
                f"slow consumer: {self._pending} messages / {buffered} bytes unsent "
                f"(limits {limits.max_messages} / {limits.max_bytes})"
            )
            log.warning("disconnecting %s: %s", self.eio_sid, reason)
            self.registry.on_overflow(self.eio_sid, reason)
            self.abort()
            return False
        transport.write(frame)
        self._pending = pending
        return True

    def abort(self) -> None:
        transport = self._request.transport
        if transport is not None:
            with contextlib.suppress(Exception):
                transport.abort()


def _install_fast_poll(eio_socket: Any) -> None:
    """Replace ``poll`` for the websocket writer: no ``wait_for`` task, no idle timeout.

    The stock poll wraps ``queue.get`` in ``asyncio.wait_for`` (a task per packet on
    Python 3.11), and its idle timeout is redundant: engine.io's ping loop already
    detects dead clients.
    """
    stock_poll = eio_socket.poll
    queue: asyncio.Queue[Any] = eio_socket.queue

    async def poll() -> list[Any]:
        if not eio_socket.upgraded:
            polled: list[Any] = await stock_poll()  # long-polling keeps engine.io's logic
            return polled
        packets = [await queue.get()]
        queue.task_done()
        while not queue.empty():
            packets.append(queue.get_nowait())
            queue.task_done()
        if None in packets:
            queue.put_nowait(None)  # keep the close marker for anyone else waiting
            packets = packets[: packets.index(None)]
        return packets

    eio_socket.poll = poll


def websocket_class(
    compress: bool, limits: QueueLimits, registry: WebSocketRegistry
) -> type[TrackedWebSocket]:
    """A per-server subclass, so settings never leak between apps in one process."""
    return type(
        "ModeldeckWebSocket",
        (TrackedWebSocket,),
        {"compress": compress, "limits": limits, "registry": registry},
    )
