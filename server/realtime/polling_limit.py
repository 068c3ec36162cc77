"""Long-polling POST bodies, bounded and checked before engine.io reads them.

engine.io answers a POST over its ``maxPayload`` by disconnecting the session *and
waiting* until a poll has taken the CLOSE packet: a client that never polls again keeps
that request, its session and its buffered body forever (300 such POSTs of 1 MB grew
the server by 180 MB). A POST without ``Content-Length`` is worse: engine.io reads
nothing of it. And a body that does not decode is logged with a traceback.

So engine.io's request translation is wrapped: a polling POST is refused with 413 when
its ``Content-Length`` says it is too large (before a byte is read), or as soon as a
chunked body passes the bound; a body that is not an engine.io payload gets 400. Either
way the session it names is closed at once (``on_refused``). A body that passes is
handed to engine.io from memory, with its length, so chunked bodies work too.
"""

from __future__ import annotations

import inspect
import urllib.parse
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web
from engineio import packet as eio_packet
from engineio import payload as eio_payload

from server.errors import BadRequest, PayloadTooLarge, ServiceError

OnRefused = Callable[[str], Awaitable[None]]

#: What a long-polling client posts: messages, pongs and its goodbye.
CLIENT_PACKETS = frozenset({eio_packet.MESSAGE, eio_packet.PONG, eio_packet.CLOSE})


class BufferedBody:
    """The already-read body, in the shape engine.io reads it (``await read(n)``)."""

    def __init__(self, data: bytes) -> None:
        self._data = data

    async def read(self, n: int = -1) -> bytes:
        data, self._data = (self._data, b"") if n < 0 else (self._data[:n], self._data[n:])
        return data


async def read_bounded(request: web.Request, limit: int) -> bytes:
    """The request's body, or ``PayloadTooLarge`` once it is over ``limit`` bytes."""
    declared = request.content_length
    if declared is not None and declared > limit:
        raise _too_large(limit)
    chunks: list[bytes] = []
    size = 0
    while chunk := await request.content.readany():
        size += len(chunk)
        if size > limit:
            raise _too_large(limit)
        chunks.append(chunk)
    return b"".join(chunks)


def _too_large(limit: int) -> PayloadTooLarge:
    return PayloadTooLarge(
        f"body: a long-polling request carries at most {limit} bytes (maxPayload)",
        details={"field": "body", "limit": limit},
    )


def check_payload(body: bytes) -> None:
    """Raise ``BadRequest`` unless ``body`` is an engine.io payload a client may send.

    Any other packet type (a PING, a NOOP, a 9) makes engine.io disconnect the session
    and wait, like an oversized body, for a poll that may never come.
    """
    try:
        packets = eio_payload.Payload(encoded_payload=body.decode("utf-8")).packets
    except Exception as exc:  # UnicodeDecodeError, ValueError, base64 errors: the client's
        raise BadRequest(
            f"body: not an engine.io payload ({type(exc).__name__})", details={"field": "body"}
        ) from None
    for pkt in packets:
        if pkt.packet_type not in CLIENT_PACKETS:
            raise BadRequest(
                f"body: engine.io packet type {pkt.packet_type} is not sent by clients",
                details={"field": "body"},
            )


def limit_polling_bodies(eio: Any, on_refused: OnRefused) -> None:
    """Install the bound on ``eio`` (an ``engineio.AsyncServer``): see the module doc."""
    translate = eio._async["translate_request"]
    limit: int = eio.max_http_buffer_size

    async def translate_request(request: web.Request) -> dict[str, Any]:
        environ: dict[str, Any] = translate(request)
        if inspect.isawaitable(environ):
            environ = await environ
        if request.method != "POST":
            return environ
        try:
            body = await read_bounded(request, limit)
            check_payload(body)
        except ServiceError:
            sid = urllib.parse.parse_qs(request.query_string).get("sid", [None])[0]
            session = eio.sockets.get(sid) if sid is not None else None
            if session is not None and not session.upgraded:  # a websocket is not its to end
                await on_refused(session.sid)
            raise
        environ["wsgi.input"] = BufferedBody(body)
        environ["CONTENT_LENGTH"] = str(len(body))
        return environ

    eio._async = {**eio._async, "translate_request": translate_request}
