"""Test-side clients: a REST helper and a socket client that records what it receives."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

import aiohttp
import socketio


async def eventually(predicate: Any, timeout: float = 10.0, interval: float = 0.02) -> None:
    """Re-check server-side state that has no event to wait on, up to ``timeout``."""
    async with asyncio.timeout(timeout):
        while not predicate():  # noqa: ASYNC110 - polled state, bounded by the timeout
            await asyncio.sleep(interval)


class Api:
    """Thin REST helper returning ``(status, json)``."""

    def __init__(self, session: aiohttp.ClientSession, url: str, token: str | None) -> None:
        self.session = session
        self.url = url
        self.token = token

    def headers(self, extra: dict[str, str] | None = None) -> dict[str, str]:
        headers = {"Authorization": f"Bearer {self.token}"} if self.token else {}
        return headers | (extra or {})

    async def call(
        self, method: str, path: str, json: Any = None, *, data: Any = None, **kw: Any
    ) -> tuple[int, Any]:
        headers = self.headers(kw.pop("headers", None))
        async with self.session.request(
            method, self.url + path, json=json, data=data, headers=headers, **kw
        ) as resp:
            body = await resp.read()
            if resp.content_type == "application/json" and body:
                return resp.status, await resp.json()
            return resp.status, body.decode()

    async def get(self, path: str, **kw: Any) -> tuple[int, Any]:
        return await self.call("GET", path, **kw)

    async def post(self, path: str, json: Any = None, **kw: Any) -> tuple[int, Any]:
        return await self.call("POST", path, json, **kw)

    async def put(self, path: str, json: Any = None, **kw: Any) -> tuple[int, Any]:
        return await self.call("PUT", path, json, **kw)

    async def patch(self, path: str, json: Any = None, **kw: Any) -> tuple[int, Any]:
        return await self.call("PATCH", path, json, **kw)

    async def delete(self, path: str, **kw: Any) -> tuple[int, Any]:
        return await self.call("DELETE", path, **kw)


class EventRecorder:
    """A python-socketio AsyncClient that keeps every event, in arrival order."""

    def __init__(self, **client_options: Any) -> None:
        client_options.setdefault("reconnection", False)
        self.sio = socketio.AsyncClient(**client_options)
        self.events: list[tuple[str, Any]] = []
        self._waiters: list[asyncio.Future[None]] = []
        self._taken: set[int] = set()
        self.connect_errors: list[Any] = []
        self.sio.on("*", self._record)
        self.sio.on("connect_error", self.connect_errors.append)

    async def _record(self, event: str, data: Any = None) -> None:
        self.events.append((event, data))
        waiters, self._waiters = self._waiters, []
        for waiter in waiters:
            if not waiter.done():
                waiter.set_result(None)

    async def until(self, predicate: Any, timeout: float) -> None:
        """Wait until ``predicate()`` holds, re-checking on every event received."""
        async with asyncio.timeout(timeout):
            while not predicate():
                waiter = asyncio.get_running_loop().create_future()
                self._waiters.append(waiter)
                await waiter

    async def connect(self, url: str, **kwargs: Any) -> None:
        kwargs.setdefault("transports", ["websocket"])
        kwargs.setdefault("wait_timeout", 5)
        await self.sio.connect(url, **kwargs)

    async def close(self) -> None:
        with contextlib.suppress(Exception):
            await self.sio.disconnect()

    def of(self, event: str) -> list[Any]:
        return [data for name, data in self.events if name == event]

    async def wait_for(
        self, event: str, count: int = 1, *, timeout: float = 5.0, where: Any = None
    ) -> list[Any]:
        """Wait until ``count`` events named ``event`` (matching ``where``) have arrived."""

        def matching() -> list[Any]:
            return [d for d in self.of(event) if where is None or where(d)]

        await self.until(lambda: len(matching()) >= count, timeout)
        return matching()

    async def next(self, event: str, *, timeout: float = 5.0, where: Any = None) -> Any:
        """The oldest ``event`` (matching ``where``) that no earlier ``next`` returned."""

        def first_untaken() -> int | None:
            for index, (name, data) in enumerate(self.events):
                if name == event and index not in self._taken and (where is None or where(data)):
                    return index
            return None

        await self.until(lambda: first_untaken() is not None, timeout)
        index = first_untaken()
        assert index is not None
        self._taken.add(index)
        return self.events[index][1]

    async def call(self, event: str, data: Any = None, *, timeout: float = 5.0) -> Any:
        return await self.sio.call(event, data, timeout=timeout)
