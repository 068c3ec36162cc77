"""Calling a provider's OpenAI-compatible API and passing its answer back unchanged.

Status, body and the useful headers go back as the provider sent them, errors
included. A server-sent-event stream is copied chunk by chunk as bytes arrive
(``iter_any``), never buffered, so a client sees each token when the router does.
Only our own ``Authorization`` (the provider's key) goes upstream, never the client's.
"""

from __future__ import annotations

import contextlib
import logging
from typing import Any
from urllib.parse import urlsplit

import aiohttp
import orjson
from aiohttp import web

from server.registry.upstreams import UpstreamResolver
from server.router.registry_view import Route

log = logging.getLogger("modeldeck.router")

#: Response headers that describe one hop, or that we change (aiohttp decompresses).
_HOP_HEADERS = frozenset({
    "connection", "keep-alive", "proxy-authenticate", "proxy-authorization", "te", "trailer",
    "transfer-encoding", "upgrade", "content-length", "content-encoding", "server", "date",
    "set-cookie",
})  # fmt: skip


def openai_error(
    status: int, message: str, *, type: str = "invalid_request_error", code: str | None = None,
    param: str | None = None,
) -> web.Response:  # fmt: skip
    """An error in OpenAI's shape, which OpenAI clients turn into typed exceptions."""
    body = {"error": {"message": message, "type": type, "param": param, "code": code}}
    return web.Response(body=orjson.dumps(body), status=status, content_type="application/json")


def _passed_headers(upstream: aiohttp.ClientResponse) -> dict[str, str]:
    return {k: v for k, v in upstream.headers.items() if k.lower() not in _HOP_HEADERS}


class Forwarder:
    """One pooled client session for every provider. Safe for concurrent requests."""

    def __init__(
        self, *, read_timeout: float, connect_timeout: float = 10.0, allow_link_local: bool = False
    ) -> None:
        self._timeout = aiohttp.ClientTimeout(
            total=None, sock_connect=connect_timeout, sock_read=read_timeout
        )
        self._allow_link_local = allow_link_local
        self._session: aiohttp.ClientSession | None = None

    async def open(self) -> None:
        # Names that resolve to a metadata service are refused like such addresses are.
        resolver = None if self._allow_link_local else UpstreamResolver()
        connector = aiohttp.TCPConnector(limit=512, ttl_dns_cache=300, resolver=resolver)
        # No cookie jar: a cookie one client's call earned must not ride along on another's.
        self._session = aiohttp.ClientSession(
            connector=connector, timeout=self._timeout, cookie_jar=aiohttp.DummyCookieJar()
        )

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()

    async def forward(
        self, request: web.Request, route: Route, path: str, body: dict[str, Any]
    ) -> web.StreamResponse:
        """POST ``body`` to the provider's ``baseUrl`` + ``path``; answer as it answered."""
        assert self._session is not None and route.provider.base_url is not None
        url = route.provider.base_url.rstrip("/") + path
        headers = {
            "Content-Type": "application/json",
            "Accept": request.headers.get("Accept", "application/json"),
        }
        if route.api_key is not None:
            headers["Authorization"] = f"Bearer {route.api_key}"
        response: web.StreamResponse | None = None
        try:
            async with self._session.post(url, data=orjson.dumps(body), headers=headers) as up:
                if up.content_type != "text/event-stream":
                    payload = await up.read()
                    return web.Response(body=payload, status=up.status, headers=_passed_headers(up))
                response = web.StreamResponse(status=up.status, headers=_passed_headers(up))
                await _relay(request, up, response)
                return response
        except (aiohttp.ClientError, TimeoutError) as exc:
            what = "timed out" if isinstance(exc, TimeoutError) else f"failed: {exc}"
            # Name the host only: a base URL may carry credentials in its query string.
            message = f"provider '{route.provider.id}' at {urlsplit(url).hostname} {what}"
            log.warning("%s", message)
            if response is None:
                status = 504 if isinstance(exc, TimeoutError) else 502
                code = "upstream_timeout" if status == 504 else "upstream_unavailable"
                return openai_error(status, message, type="api_error", code=code)
            # Headers are gone already: say so in-band, as an OpenAI stream error event.
            return await _end_stream_with_error(response, message)


async def _relay(
    request: web.Request, upstream: aiohttp.ClientResponse, response: web.StreamResponse
) -> None:
    """Copy the stream as it arrives. Upstream failures propagate; a client that went
    away just ends the copy (leaving the upstream context then closes that call)."""
    try:
        await response.prepare(request)
        async for chunk in upstream.content.iter_any():
            await response.write(chunk)
        await response.write_eof()
    except ConnectionResetError:
        if request.transport is not None and not request.transport.is_closing():
            raise  # the upstream reset, not our client
        log.info("client left during a stream from %s", upstream.url.host)


async def _end_stream_with_error(response: web.StreamResponse, message: str) -> web.StreamResponse:
    event = {"error": {"message": message, "type": "api_error", "code": "upstream_interrupted"}}
    with contextlib.suppress(ConnectionResetError):
        # The blank lines first end any event the cut left half-written.
        await response.write(b"\n\ndata: " + orjson.dumps(event) + b"\n\n")
        await response.write_eof()
    return response
