"""A real HTTP server speaking OpenAI's API, standing in for a provider in tests and benches.

It answers ``POST /v1/chat/completions``, ``/v1/completions`` (both streaming as
server-sent events or not), ``/v1/embeddings`` (``float`` or ``base64``) and
``GET /v1/models`` with OpenAI's JSON shapes, so the official ``openai`` client and
the router talk to it as they would to a provider.

Knobs (constructor keyword arguments; plain attributes a test may change while it runs):

- ``api_key``: when set, requests need ``Authorization: Bearer <api_key>`` (401 in
  OpenAI's shape otherwise), as a real provider does.
- ``latency``: seconds before the response (before the first chunk of a stream);
  ``jitter`` spreads it uniformly over ``latency * (1 ± jitter)``, as real providers vary.
- ``chunk_interval``: seconds between stream chunks.
- ``hold``: an ``asyncio.Event``; while it is not set, a stream stops after its first
  content chunk, so a test can see chunks arrive before the upstream has finished.
- ``fail``: ``(status, message)`` answers every request with that OpenAI-shaped error.
- ``drop_streams``: a stream's connection is cut after its first content chunk, with
  no end of the chunked body, like a provider that crashed mid-answer.

What it saw: ``requests`` (:class:`RecordedRequest`), ``open_streams``,
``finished_streams`` and ``abandoned_streams`` (the caller hung up mid-stream).

Run alone: ``python -m tests.openai_standin --port 8000 --latency 0.05``; it prints
``listening on http://127.0.0.1:<port>/v1`` once it accepts connections.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import hashlib
import random
import socket
import struct
import time
from dataclasses import dataclass
from types import TracebackType
from typing import Any, Self

import orjson
from aiohttp import web
from aiohttp.typedefs import Handler

REPLY_PREFIX = "Echo:"
EMBEDDING_DIMS = 8
BODY = web.RequestKey("json_body", dict)


def free_port() -> int:
    """A TCP port nothing uses right now, for a server a test starts a little later.

    Chosen below the kernel's ephemeral range: a port from ``bind(0)`` comes from that
    range, where any outgoing connection on the machine may take it in the meantime
    and make the server's own ``bind`` fail.
    """
    try:
        with open("/proc/sys/net/ipv4/ip_local_port_range") as ranges:
            ephemeral_low = int(ranges.read().split()[0])
    except (OSError, ValueError, IndexError):
        ephemeral_low = 32768
    for _ in range(200):
        port = random.randint(min(20000, ephemeral_low - 1000), ephemeral_low - 1)
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    with socket.socket() as sock:  # everything below is taken: let the OS choose
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass(frozen=True)
class RecordedRequest:
    method: str
    path: str
    headers: dict[str, str]
    body: Any


def _error(status: int, message: str, code: str | None = None) -> web.Response:
    kind = "invalid_request_error" if status < 500 else "server_error"
    body = {"error": {"message": message, "type": kind, "param": None, "code": code}}
    return _json(body, status=status)


def _json(data: Any, *, status: int = 200) -> web.Response:
    return web.Response(body=orjson.dumps(data), status=status, content_type="application/json")


def _last_user_text(messages: Any) -> str:
    for message in reversed(messages if isinstance(messages, list) else []):
        if isinstance(message, dict) and isinstance(message.get("content"), str):
            return str(message["content"])
    return ""


def _vector(text: str) -> list[float]:
    digest = hashlib.sha256(text.encode()).digest()
    return [round(b / 255, 6) for b in digest[:EMBEDDING_DIMS]]


class OpenAIStandin:
    """One stand-in provider on ``127.0.0.1``; ``base_url`` ends in ``/v1``."""

    def __init__(
        self, *, api_key: str | None = None, latency: float = 0.0, jitter: float = 0.0,
        chunk_interval: float = 0.0,
    ) -> None:  # fmt: skip
        self.api_key = api_key
        self.latency = latency
        self.jitter = jitter
        self.chunk_interval = chunk_interval
        self.hold: asyncio.Event | None = None
        self.fail: tuple[int, str] | None = None
        self.drop_streams = False
        self.record = True
        self.requests: list[RecordedRequest] = []
        self.open_streams = 0
        self.finished_streams = 0
        self.abandoned_streams = 0
        self.port = 0
        self._runner: web.AppRunner | None = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def _app(self) -> web.Application:
        app = web.Application(middlewares=[self._gate], client_max_size=64 * 1024 * 1024)
        app.router.add_post("/v1/chat/completions", self._chat)
        app.router.add_post("/v1/completions", self._completions)
        app.router.add_post("/v1/embeddings", self._embeddings)
        app.router.add_get("/v1/models", self._models)
        return app

    async def start(self, port: int = 0) -> Self:
        # Handler cancellation: a stream whose caller hung up ends (``abandoned_streams``).
        self._runner = web.AppRunner(self._app(), access_log=None, handler_cancellation=True)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", port)
        await site.start()
        server = site._server
        assert isinstance(server, asyncio.base_events.Server)
        self.port = server.sockets[0].getsockname()[1]
        return self

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> Self:
        return await self.start()

    async def __aexit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.stop()

    @web.middleware
    async def _gate(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        raw = await request.read()
        try:
            body = orjson.loads(raw) if raw else None
        except orjson.JSONDecodeError:
            return _error(400, "We could not parse the JSON body of your request.")
        if self.record:
            self.requests.append(
                RecordedRequest(request.method, request.path, dict(request.headers), body)
            )
        if self.api_key is not None:
            if request.headers.get("Authorization") != f"Bearer {self.api_key}":
                return _error(401, "Incorrect API key provided.", "invalid_api_key")
        if self.fail is not None:
            return _error(*self.fail)
        if self.latency:
            await asyncio.sleep(self.latency * random.uniform(1 - self.jitter, 1 + self.jitter))
        request[BODY] = body if isinstance(body, dict) else {}
        return await handler(request)

    # -- routes ------------------------------------------------------------------------

    async def _chat(self, request: web.Request) -> web.StreamResponse:
        body = request[BODY]
        reply = f"{REPLY_PREFIX} {_last_user_text(body.get('messages'))}"
        base = {"id": "chatcmpl-standin", "created": int(time.time()), "model": body.get("model")}
        if not body.get("stream"):
            choice = {"index": 0, "message": {"role": "assistant", "content": reply},
                      "finish_reason": "stop", "logprobs": None}  # fmt: skip
            usage = {"prompt_tokens": 3, "completion_tokens": len(reply.split()), "total_tokens": 9}
            return _json(base | {"object": "chat.completion", "choices": [choice], "usage": usage})
        chunk = base | {"object": "chat.completion.chunk"}
        deltas = [{"role": "assistant", "content": ""}] + [
            {"content": word} for word in _words(reply)
        ]
        events = [chunk | {"choices": [{"index": 0, "delta": d, "finish_reason": None}]}
                  for d in deltas]  # fmt: skip
        events.append(chunk | {"choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]})
        return await self._stream(request, events)

    async def _completions(self, request: web.Request) -> web.StreamResponse:
        body = request[BODY]
        prompt = body.get("prompt")
        text = f" {REPLY_PREFIX} {prompt if isinstance(prompt, str) else ''}"
        base = {"id": "cmpl-standin", "object": "text_completion", "created": int(time.time()),
                "model": body.get("model")}  # fmt: skip
        if not body.get("stream"):
            choice = {"index": 0, "text": text, "finish_reason": "stop", "logprobs": None}
            return _json(base | {"choices": [choice]})
        events = [base | {"choices": [{"index": 0, "text": w, "finish_reason": None,
                                       "logprobs": None}]} for w in _words(text)]  # fmt: skip
        return await self._stream(request, events)

    async def _stream(
        self, request: web.Request, events: list[dict[str, Any]]
    ) -> web.StreamResponse:
        response = web.StreamResponse(
            headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache"}
        )
        await response.prepare(request)
        self.open_streams += 1
        try:
            for index, event in enumerate(events):
                if index and self.chunk_interval:
                    await asyncio.sleep(self.chunk_interval)
                await response.write(b"data: " + orjson.dumps(event) + b"\n\n")
                if index == 1 and self.drop_streams and request.transport is not None:
                    request.transport.close()
                    return response
                if index == 1 and self.hold is not None:
                    await self.hold.wait()
            await response.write(b"data: [DONE]\n\n")
            await response.write_eof()
        except (asyncio.CancelledError, ConnectionResetError):
            self.abandoned_streams += 1
            raise
        finally:
            self.open_streams -= 1
        self.finished_streams += 1
        return response

    async def _embeddings(self, request: web.Request) -> web.Response:
        body = request[BODY]
        given = body.get("input")
        texts = [given] if isinstance(given, str) else list(given or [])
        base64_wanted = body.get("encoding_format") == "base64"
        data = []
        for index, text in enumerate(texts):
            vector: Any = _vector(str(text))
            if base64_wanted:
                vector = base64.b64encode(struct.pack(f"<{len(vector)}f", *vector)).decode()
            data.append({"object": "embedding", "index": index, "embedding": vector})
        usage = {"prompt_tokens": len(texts), "total_tokens": len(texts)}
        return _json({"object": "list", "data": data, "model": body.get("model"), "usage": usage})

    async def _models(self, request: web.Request) -> web.Response:
        models = [{"id": "standin-chat", "object": "model", "created": 0, "owned_by": "standin"}]
        return _json({"object": "list", "data": models})


def _words(text: str) -> list[str]:
    """Split keeping the spaces, so the chunks join back into ``text``."""
    words = text.split(" ")
    return [words[0]] + [f" {w}" for w in words[1:]]


async def _serve(args: argparse.Namespace) -> None:
    standin = OpenAIStandin(
        api_key=args.api_key, latency=args.latency, jitter=args.jitter,
        chunk_interval=args.chunk_interval,
    )  # fmt: skip
    standin.record = False  # a long run would otherwise keep every request
    async with standin:
        print(f"listening on {standin.base_url}", flush=True)
        await asyncio.Event().wait()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--latency", type=float, default=0.0)
    parser.add_argument("--jitter", type=float, default=0.0)
    parser.add_argument("--chunk-interval", type=float, default=0.0)
    parser.add_argument("--api-key")
    args = parser.parse_args()
    try:
        asyncio.run(_serve(args))
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
