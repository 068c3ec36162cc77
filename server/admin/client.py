"""What the admin CLI uses to talk to a running modeldeck: REST calls and a socket.

Errors the CLI turns into one line on stderr::

    AdminError                 anything the user should read instead of a traceback
    ├── ServerError            the server answered with an error body (4xx/5xx)
    ├── Unreachable            no answer at all: refused, unknown host, timeout,
    │                          or the socket connection was refused
    ├── NotModeldeck           an answer, but not modeldeck's JSON: --url is wrong
    └── BadUrl                 --url is not an http(s) URL (exit code 2)

Both clients are async and meant for one short-lived command on one event loop.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Coroutine
from types import TracebackType
from typing import Any, Self

import aiohttp
import socketio
from yarl import URL

TOPICS = ("providers", "models", "credentials", "proxy", "ollama")
REQUEST_TIMEOUT = 30.0  # seconds for one REST call; a pull is followed over the socket


class AdminError(Exception):
    """A failure to report as ``error: <message>`` with exit code ``exit_code``."""

    exit_code = 1

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class ServerError(AdminError):
    """The server refused the request; ``message`` is its own, ``status`` the HTTP one."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(f"{message} (HTTP {status} {code})")
        self.status = status
        self.code = code
        self.reason = message


class Unreachable(AdminError):
    """No usable answer from the server."""


class NotModeldeck(AdminError):
    """Something answered at the URL, but not with modeldeck's JSON."""


class BadUrl(AdminError):
    """``--url`` cannot be used as given; a command-line mistake, so exit code 2."""

    exit_code = 2


def server_url(raw: str) -> str:
    """``raw`` as a base URL: ``127.0.0.1:3002`` means ``http://127.0.0.1:3002``.

    Raises ``BadUrl`` naming what is wrong, instead of letting the HTTP library fail
    later with an error about its own internals.
    """
    text = raw.strip()
    if "://" not in text:
        text = "http://" + text
    try:
        url = URL(text)
    except ValueError as exc:
        raise BadUrl(f"--url {raw!r} is not a URL ({exc})") from exc
    if url.scheme not in ("http", "https"):
        raise BadUrl(f"--url {raw!r}: the scheme must be http or https, not {url.scheme!r}")
    if not url.host:
        raise BadUrl(f"--url {raw!r} names no host; expected e.g. http://127.0.0.1:3002")
    if url.query_string or url.fragment:
        raise BadUrl(f"--url {raw!r}: give the server's base URL, without ?query or #fragment")
    return str(url).rstrip("/")


def _not_modeldeck(url: str, method: str, path: str, resp: aiohttp.ClientResponse) -> NotModeldeck:
    kind = resp.content_type or "no content type"
    return NotModeldeck(
        f"{url} does not look like modeldeck: {method} {path} answered HTTP {resp.status} "
        f"with {kind}, not modeldeck's JSON (is --url / MODELDECK_URL right?)"
    )


def _error_of(status: int, reason: str, body: Any) -> ServerError:
    error = body.get("error") if isinstance(body, dict) else None
    if isinstance(error, dict) and isinstance(error.get("message"), str):
        message = error["message"]
        if status == 401:
            message += "; pass --token or set MODELDECK_TOKEN"
        return ServerError(status, str(error.get("code", "error")), message)
    return ServerError(status, "http_error", f"{reason or 'HTTP error'} from the server")


class AdminClient:
    """REST calls returning the decoded JSON; a non-2xx answer raises ``ServerError``."""

    def __init__(self, url: str, token: str | None, *, timeout: float = REQUEST_TIMEOUT) -> None:
        self.url = url.rstrip("/")
        self.token = token
        self.timeout = timeout
        self._session: aiohttp.ClientSession | None = None

    async def __aenter__(self) -> Self:
        headers = {"Authorization": f"Bearer {self.token}"} if self.token else {}
        self._session = aiohttp.ClientSession(
            headers=headers, timeout=aiohttp.ClientTimeout(total=self.timeout)
        )
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._session is not None:
            await self._session.close()

    async def call(
        self, method: str, path: str, json: Any = None, params: dict[str, str] | None = None
    ) -> tuple[int, Any]:
        """``(status, decoded JSON)`` of a successful request."""
        assert self._session is not None, "use AdminClient as an async context manager"
        try:
            async with self._session.request(
                method, self.url + path, json=json, params=params
            ) as resp:
                body: Any = _NO_JSON
                if resp.content_type == "application/json":
                    with contextlib.suppress(ValueError, aiohttp.ContentTypeError):
                        body = await resp.json()
                if not _ours(resp.status, body):
                    raise _not_modeldeck(self.url, method, path, resp)
                if resp.status >= 400:
                    raise _error_of(resp.status, resp.reason or "", body)
                return resp.status, body
        except aiohttp.ClientConnectionError as exc:
            raise Unreachable(f"cannot reach modeldeck at {self.url}: {_reason(exc)}") from exc
        except TimeoutError as exc:
            raise Unreachable(
                f"no answer from modeldeck at {self.url} within {self.timeout:g}s"
            ) from exc

    async def request(
        self, method: str, path: str, json: Any = None, params: dict[str, str] | None = None
    ) -> Any:
        """The decoded JSON of a successful request."""
        return (await self.call(method, path, json, params))[1]

    async def get(self, path: str, params: dict[str, str] | None = None) -> Any:
        return await self.request("GET", path, params=params)

    async def post(self, path: str, json: Any = None) -> Any:
        return await self.request("POST", path, json)

    async def delete(self, path: str, params: dict[str, str] | None = None) -> Any:
        return await self.request("DELETE", path, params=params)


_NO_JSON: Any = object()


def _ours(status: int, body: Any) -> bool:
    """Whether an answer has modeldeck's shape: JSON, and errors as ``{"error": {...}}``."""
    if body is _NO_JSON:
        return False
    if status >= 400:
        return isinstance(body, dict) and isinstance(body.get("error"), dict)
    return True


def _reason(exc: BaseException) -> str:
    if isinstance(exc, aiohttp.ClientConnectorError):
        if isinstance(exc.os_error, ConnectionRefusedError):
            return "connection refused (is `modeldeck serve` running there?)"
        return exc.os_error.strerror or str(exc.os_error)
    return str(exc) or type(exc).__name__


# Markers the stream puts in its queue between events, so that a consumer sees
# connects and drops in order with the events around them.
CONNECTED = "@connected"
DISCONNECTED = "@disconnected"
PROBLEM = "@problem"  # something went wrong that the stream survives
REFUSED = "@refused"  # the server refused a reconnect (e.g. the token changed): fatal

OnConnect = Callable[["EventStream"], Awaitable[None]]


def refusal(url: str, why: str) -> str:
    """The line for a server that refuses a reconnect, with the fix when it is the token."""
    hint = (
        " (its token changed? pass --token or set MODELDECK_TOKEN)" if "unauthorized" in why else ""
    )
    return f"modeldeck at {url} refused to reconnect: {why}{hint}"


class EventStream:
    """A Socket.IO connection whose events land in ``queue`` as ``(name, data)``.

    It reconnects by itself and resumes: ``auth`` is computed on every connect as
    ``{token, lastSeq, format: "delta"}`` with the highest ``seq`` seen, so the server
    replays what was missed, as changes (a write prints what it changed, not the whole
    registry). ``on_connect`` runs after every (re)connect, e.g. to re-join rooms; its
    acks are read with :meth:`call`. The ``proxy:status`` greeting carries the
    current seq, possibly ahead of a replay still arriving, so it only sets the resume
    point when none is known yet.
    """

    def __init__(
        self,
        url: str,
        token: str | None,
        *,
        last_seq: int | None = None,
        on_connect: OnConnect | None = None,
    ) -> None:
        self.url = url.rstrip("/")
        self.token = token
        self.last_seq = last_seq
        self.on_connect = on_connect
        self.queue: asyncio.Queue[tuple[str, Any]] = asyncio.Queue()
        self._greeting_pending = False
        self._refused: str | None = None
        self._connected_once = False
        self._tasks: set[asyncio.Task[None]] = set()
        self._closing = False
        # handle_sigint=False: the CLI decides what Ctrl-C means.
        self.sio = socketio.AsyncClient(
            reconnection=True,
            reconnection_delay=0.5,
            reconnection_delay_max=5,
            handle_sigint=False,
        )
        self.sio.on("*", self._on_event)
        self.sio.on("connect", self._on_connect)
        self.sio.on("disconnect", self._on_disconnect)
        self.sio.on("connect_error", self._on_connect_error)

    def _auth(self) -> dict[str, Any]:
        auth: dict[str, Any] = {"format": "delta"}
        if self.token:
            auth["token"] = self.token
        if self.last_seq is not None:
            auth["lastSeq"] = self.last_seq
        self._greeting_pending = True
        return auth

    async def _on_event(self, event: str, *args: Any) -> None:
        data = None if not args else args[0] if len(args) == 1 else list(args)
        if isinstance(data, dict):
            self._track(event, data)
        self.queue.put_nowait((event, data))

    def _track(self, event: str, data: dict[str, Any]) -> None:
        if event == "events:reset":
            if isinstance(data.get("currentSeq"), int):
                self.last_seq = data["currentSeq"]
            return
        seq = data.get("seq")
        if not isinstance(seq, int) or isinstance(seq, bool):
            return
        if event == "proxy:status" and self._greeting_pending:
            self._greeting_pending = False
            if self.last_seq is None:
                self.last_seq = seq
        elif self.last_seq is None or seq > self.last_seq:
            self.last_seq = seq

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        task = asyncio.create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _on_connect(self) -> None:
        self._connected_once = True
        self.queue.put_nowait((CONNECTED, self.sio.transport()))
        if self.on_connect is not None:
            # In a task: acks cannot arrive while this handler still runs.
            self._spawn(self._after_connect(self.on_connect))

    async def _after_connect(self, on_connect: OnConnect) -> None:
        try:
            await on_connect(self)
        except Exception as exc:  # e.g. an ack that never came: say so, keep streaming
            self.queue.put_nowait((PROBLEM, str(exc) or type(exc).__name__))

    async def _on_disconnect(self, reason: Any = None) -> None:
        self.queue.put_nowait((DISCONNECTED, str(reason)))
        if reason == self.sio.reason.SERVER_DISCONNECT and not self._closing:
            # The server closed us (shutting down, or dropping a slow consumer):
            # python-socketio does not come back by itself in that case.
            self._spawn(self._reconnect_later())

    async def _reconnect_later(self) -> None:
        delay = 0.5
        while not self._closing and not self.sio.connected:
            await asyncio.sleep(delay)
            try:
                await self._connect()
            except (socketio.exceptions.ConnectionError, ValueError):
                delay = min(delay * 2, 5.0)

    async def _on_connect_error(self, data: Any = None) -> None:
        message = data.get("message") if isinstance(data, dict) else data
        self._refused = str(message)
        if isinstance(data, dict) and self._connected_once:
            # A dict is the server's own refusal (its connect handler said no), not a
            # transport failure: retrying will not help, so the consumer must be told.
            self.queue.put_nowait((REFUSED, refusal(self.url, str(message))))

    async def _connect(self) -> None:
        await self.sio.connect(self.url, auth=self._auth, transports=["websocket"], wait_timeout=10)

    async def connect(self) -> None:
        """The first connection; a refusal or an unreachable server raises ``Unreachable``."""
        try:
            await self._connect()
        except (socketio.exceptions.ConnectionError, ValueError) as exc:
            why = self._refused or str(exc)
            hint = "; pass --token or set MODELDECK_TOKEN" if "unauthorized" in why else ""
            raise Unreachable(f"cannot connect to modeldeck at {self.url}: {why}{hint}") from exc

    async def probe(self) -> None:
        """Check that ``url`` is a modeldeck (its ``/health``) before opening the socket."""
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as http:
            try:
                async with http.get(self.url + "/health") as resp:
                    body: Any = None
                    if resp.content_type == "application/json":
                        with contextlib.suppress(ValueError, aiohttp.ContentTypeError):
                            body = await resp.json()
                    if not (isinstance(body, dict) and "status" in body and "version" in body):
                        raise _not_modeldeck(self.url, "GET", "/health", resp)
            except aiohttp.ClientConnectionError as exc:
                raise Unreachable(f"cannot reach modeldeck at {self.url}: {_reason(exc)}") from exc
            except TimeoutError as exc:
                raise Unreachable(f"no answer from modeldeck at {self.url} within 10s") from exc

    async def call(self, event: str, data: Any, timeout: float = 10.0) -> Any:
        try:
            return await self.sio.call(event, data, timeout=timeout)
        except socketio.exceptions.TimeoutError as exc:
            raise Unreachable(f"no answer to {event} within {timeout:g}s") from exc

    async def only_topics(self, topics: list[str]) -> None:
        """Leave every topic room but ``topics`` (a new client is in all of them)."""
        others = [t for t in TOPICS if t not in topics]
        if others:
            await self.call("unsubscribe", {"topics": others})
        if topics:
            await self.call("subscribe", {"topics": topics})

    async def close(self) -> None:
        self._closing = True
        for task in list(self._tasks):
            task.cancel()
        with contextlib.suppress(Exception):
            await self.sio.disconnect()
