"""Socket.IO packets checked before python-socketio acts on them.

modeldeck's socket speaks a small dialect of Socket.IO: text packets on the default
namespace, events shaped ``[name, argument?]`` with a string name, no binary. Anything
else comes from a broken or hostile client, and python-socketio would answer it badly:
a traceback per bad frame (``4x``), a handler raising ``TypeError`` in a task nobody
awaits (``422["subscribe",{…},"x"]``), or binary attachments buffered without bound
after a ``459999999-[…]`` header. So every incoming packet is checked here first:

- a packet modeldeck cannot take is *refused*: when it asked for an ack, the ack says
  why (``{success: false, data: null, error: {code, message}}``); then the connection
  is closed, with one debug line for that connection and nothing more, whatever it
  sends next;
- an event nobody handles is not malformed (a newer client may send it): it is acked
  ``not_found`` when it asked for an ack, and otherwise ignored;
- a handler that still raises is logged as the bug it is and acked ``internal_error``,
  so no task exception goes unretrieved.

python-socketio and python-engineio get loggers of their own, quiet below WARNING and
without the stderr handler they add by default (which printed every error twice).
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import Callable, Mapping
from typing import Any, Protocol

import socketio
from socketio import packet as sio_packet

from server.errors import BadRequest, ResourceNotFound, ServiceError
from server.realtime.engine import LIBRARY_LOGGERS, library_logger
from server.realtime.polling_limit import limit_polling_bodies

log = logging.getLogger("modeldeck.socket")

#: Names a client may not emit: python-socketio would run the connection handlers.
RESERVED_EVENTS = frozenset({"connect", "disconnect", "connect_error"})
DEFAULT_NAMESPACE = "/"
#: Socket.IO packet types a client sends (binary ones are refused before this check).
CLIENT_PACKETS = frozenset(
    {sio_packet.CONNECT, sio_packet.DISCONNECT, sio_packet.EVENT, sio_packet.ACK}
)


class Abortable(Protocol):
    """A transport that can be cut at once (a websocket of ``WebSocketRegistry``)."""

    def abort(self) -> None: ...


class Refused(Exception):
    """A packet modeldeck will not take; ``error`` is what its ack says."""

    def __init__(self, error: ServiceError, ack_id: int | None = None) -> None:
        super().__init__(error.message)
        self.error = error
        self.ack_id = ack_id


class GuardedServer(socketio.AsyncServer):  # type: ignore[misc]
    """``socketio.AsyncServer`` that refuses what modeldeck's socket does not speak.

    ``websockets`` maps engine.io sids to their open websockets (the fast path's
    registry, set once the engine is chosen; empty on the stock path), so that a refused
    client's transport is cut at once rather than read to its end.

    Loaded only by ``engine.socket_server`` once ``engine.guard_check`` has found the
    python-socketio internals this leans on (``constraints.txt`` pins the versions
    tested): it overrides ``_handle_eio_message`` (every incoming packet)
    and ``_handle_event_internal`` (the task running one event's handler), and calls
    the per-type dispatchers the former calls (``_handle_connect``, ``_handle_event``
    ...). Binary packets never reach python-socketio, so its per-client attachment
    buffer stays empty.
    """

    def __init__(self, websockets: Mapping[str, Abortable] | None = None, **kwargs: Any) -> None:
        kwargs.setdefault("logger", library_logger(LIBRARY_LOGGERS[0]))
        kwargs.setdefault("engineio_logger", library_logger(LIBRARY_LOGGERS[1]))
        super().__init__(**kwargs)
        self.websockets: Mapping[str, Abortable] = websockets if websockets is not None else {}
        self._signatures: dict[Callable[..., Any], inspect.Signature] = {}
        limit_polling_bodies(self.eio, on_refused=self._close_session)

    # -- every incoming packet -----------------------------------------------------

    async def _handle_eio_message(self, eio_sid: str, data: Any) -> None:
        """Check one packet, then dispatch it as python-socketio would."""
        if not self._is_open(eio_sid):
            return  # refused already: what it sent after that is not read
        try:
            pkt = self._checked(eio_sid, data)
        except Refused as refused:
            await self._refuse(eio_sid, refused)
            return
        namespace = pkt.namespace or DEFAULT_NAMESPACE
        if pkt.packet_type == sio_packet.CONNECT:
            await self._handle_connect(eio_sid, namespace, pkt.data)
        elif pkt.packet_type == sio_packet.DISCONNECT:
            await self._handle_disconnect(eio_sid, namespace, self.reason.CLIENT_DISCONNECT)
        elif pkt.packet_type == sio_packet.ACK:
            await self._handle_ack(eio_sid, namespace, pkt.id, pkt.data)
        elif pkt.data[0] not in self.handlers.get(namespace, {}):
            log.debug("unknown event %.100r from %s", pkt.data[0], eio_sid)
            if pkt.id is not None:
                error = ResourceNotFound(f"event: no handler for {pkt.data[0][:100]!r}")
                await self._ack(eio_sid, pkt.id, error.reply())
        else:
            await self._handle_event(eio_sid, namespace, pkt.id, pkt.data)

    def _checked(self, eio_sid: str, data: Any) -> Any:
        """The decoded packet, if modeldeck takes it; else raise ``Refused``.

        ``data`` is what engine.io made of a MESSAGE: ``bytes`` for a binary frame, and
        (engine.io decodes JSON that does not start with a digit) possibly a dict,
        list or number instead of the Socket.IO packet text.
        """
        if isinstance(data, bytes | bytearray):
            raise Refused(BadRequest("binary frames are not accepted: events carry JSON only"))
        if not isinstance(data, str):
            raise Refused(BadRequest("not a Socket.IO packet"))
        try:
            pkt = self.packet_class(encoded_packet=data) if data else None
        except Exception as exc:  # ValueError, JSON errors, recursion: all the client's
            raise Refused(BadRequest(f"not a Socket.IO packet ({type(exc).__name__})")) from None
        if pkt is None:
            raise Refused(BadRequest("empty Socket.IO packet"))
        ack_id = pkt.id if isinstance(pkt.id, int) else None
        kind = pkt.packet_type
        if kind in (sio_packet.BINARY_EVENT, sio_packet.BINARY_ACK) or pkt.attachment_count:
            raise Refused(BadRequest("binary attachments are not accepted"), ack_id)
        if kind not in CLIENT_PACKETS:
            raise Refused(BadRequest(f"packet type {kind!r} is not accepted from a client"))
        if kind == sio_packet.CONNECT or kind == sio_packet.DISCONNECT:
            namespace = pkt.namespace or DEFAULT_NAMESPACE
            if kind == sio_packet.CONNECT and self._sid_of(eio_sid, namespace):
                raise Refused(BadRequest(f"already connected to namespace {namespace}"))
            return pkt
        if (pkt.namespace or DEFAULT_NAMESPACE) != DEFAULT_NAMESPACE:
            raise Refused(BadRequest("only the default namespace '/' is served"), ack_id)
        if self._sid_of(eio_sid, DEFAULT_NAMESPACE) is None:
            raise Refused(BadRequest("not connected: send CONNECT first"), ack_id)
        if kind == sio_packet.ACK:
            if not isinstance(pkt.data, list):
                raise Refused(BadRequest("an ack carries a list of arguments"))
            return pkt
        self._check_event(pkt.data, ack_id)
        return pkt

    def _check_event(self, data: Any, ack_id: int | None) -> None:
        """An event is ``[name, argument?]`` with a name its handler can be called with."""
        if not isinstance(data, list) or not data:
            raise Refused(BadRequest("an event is a list: [name, argument?]"), ack_id)
        name = data[0]
        if not isinstance(name, str):
            raise Refused(BadRequest("event: the name must be a string"), ack_id)
        if name in RESERVED_EVENTS:
            raise Refused(BadRequest(f"event: {name!r} is reserved"), ack_id)
        handler = self.handlers.get(DEFAULT_NAMESPACE, {}).get(name)
        if handler is None:
            return  # answered "not found" by the dispatcher, not refused
        try:
            self._signature(handler).bind("sid", *data[1:])
        except TypeError:
            given = len(data) - 1
            raise Refused(
                BadRequest(f"{name}: takes one argument (an object), {given} given"), ack_id
            ) from None

    def _signature(self, handler: Callable[..., Any]) -> inspect.Signature:
        signature = self._signatures.get(handler)
        if signature is None:
            signature = self._signatures[handler] = inspect.signature(handler)
        return signature

    # -- refusing ------------------------------------------------------------------

    async def _refuse(self, eio_sid: str, refused: Refused) -> None:
        """Answer the ack if one was asked for, then close the connection."""
        log.debug("refusing input from %s and closing it: %s", eio_sid, refused.error.message)
        if refused.ack_id is not None:
            await self._ack(eio_sid, refused.ack_id, refused.error.reply())
        await self._close_session(eio_sid)

    async def _close_session(self, eio_sid: str) -> None:
        """Close one engine.io session now, whatever its transport.

        A websocket is cut (its reader then ends the session the usual way); a
        long-polling session is closed without waiting for a poll that may never
        come, and its CLOSE packet is left for the next poll to pick up.
        """
        websocket = self.websockets.get(eio_sid)
        if websocket is not None:
            websocket.abort()
        session = self.eio.sockets.get(eio_sid)
        if session is not None and not (session.closed or session.closing):
            await session.close(
                wait=False, abort=websocket is not None, reason=self.reason.SERVER_DISCONNECT
            )
            if websocket is None and session.upgraded:
                # engine.io's own websocket (the stock path): its writer sends the CLOSE,
                # then ends the websocket at engine.io's "no more packets" marker instead
                # of waiting for the client to hang up.
                session.queue.put_nowait(None)

    def _is_open(self, eio_sid: str) -> bool:
        session = self.eio.sockets.get(eio_sid)
        return session is not None and not (session.closed or session.closing)

    def _sid_of(self, eio_sid: str, namespace: str) -> str | None:
        sid: str | None = self.manager.sid_from_eio_sid(eio_sid, namespace)
        return sid

    async def _ack(self, eio_sid: str, ack_id: int, reply: dict[str, Any]) -> None:
        await self._send_packet(
            eio_sid,
            self.packet_class(sio_packet.ACK, namespace=DEFAULT_NAMESPACE, id=ack_id, data=[reply]),
        )

    # -- running a handler ---------------------------------------------------------

    async def _handle_event_internal(
        self, server: Any, sid: str, eio_sid: str, data: list[Any], namespace: str, id: int | None
    ) -> None:
        """python-socketio's, with a net: a handler that raises is a bug, logged once
        here with its traceback and answered ``internal_error``, not a task exception
        that nobody retrieves."""
        try:
            await super()._handle_event_internal(server, sid, eio_sid, data, namespace, id)
        except Exception:
            log.exception("socket event %.100r from %s failed", data[0], sid)
            if id is not None and self._is_open(eio_sid):
                await self._ack(eio_sid, id, ServiceError("internal error").reply())
