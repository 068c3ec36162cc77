"""Pings: sent every ``ping_interval`` after each pong, an unanswered one ends the
connection, and on the fast path one task pings every client (none per client)."""

from __future__ import annotations

import asyncio
import itertools
import time

import aiohttp
import pytest

from tests.conftest import Running
from tests.hostile import EIO_QUERY, RawSocket, polling_session

INTERVAL = 0.3
TIMEOUT = 0.4


@pytest.fixture
async def server(start_server) -> Running:
    return await start_server(socket_ping_interval=INTERVAL, socket_ping_timeout=TIMEOUT)


async def clients_on_health(server: Running) -> int:
    _, health = await server.api.get("/health")
    return int(health["clients"])


async def next_ping(raw: RawSocket, timeout: float) -> float:
    """When the next engine.io PING arrived (other packets are skipped)."""
    async with asyncio.timeout(timeout):
        while True:
            message = await raw.ws.receive()
            if message.type != aiohttp.WSMsgType.TEXT:
                raise ConnectionError(f"websocket ended: {message.type.name}")
            if message.data == "2":
                return time.monotonic()


async def test_a_client_that_answers_gets_a_ping_every_interval(
    server: Running, http: aiohttp.ClientSession
) -> None:
    raw = await RawSocket.open(http, server.url)
    try:
        arrivals = []
        for _ in range(5):
            arrivals.append(await next_ping(raw, timeout=INTERVAL + 3))
            await raw.ws.send_str("3")
        gaps = [b - a for a, b in itertools.pairwise(arrivals)]
        # Each ping comes an interval after the pong (the scheduler's tick is finer).
        assert all(INTERVAL * 0.9 <= gap < INTERVAL + 1.0 for gap in gaps), gaps
        assert await clients_on_health(server) == 1
    finally:
        await raw.close()


async def test_a_long_polling_client_gets_its_pings_in_its_polls(
    server: Running, http: aiohttp.ClientSession
) -> None:
    sid = await polling_session(http, server.url)
    url = f"{server.url}{EIO_QUERY}&transport=polling&sid={sid}"
    text = {"Content-Type": "text/plain;charset=UTF-8"}
    async with http.post(url, data="40", headers=text) as reply:
        assert reply.status == 200
    arrivals: list[float] = []
    async with asyncio.timeout(INTERVAL * 3 + 10):
        while len(arrivals) < 4:
            async with http.get(url) as reply:
                body = await reply.text()
            assert reply.status == 200, body
            if "2" in body.split("\x1e"):  # engine.io v4's packet separator
                arrivals.append(time.monotonic())
                async with http.post(url, data="3", headers=text) as reply:
                    assert reply.status == 200
    gaps = [b - a for a, b in itertools.pairwise(arrivals)]
    assert all(INTERVAL * 0.9 <= gap < INTERVAL + 1.0 for gap in gaps), gaps


async def test_a_client_that_stops_answering_pings_is_disconnected(
    server: Running, http: aiohttp.ClientSession
) -> None:
    raw = await RawSocket.open(http, server.url)
    await next_ping(raw, timeout=INTERVAL + 3)
    await raw.ws.send_str("3")
    await next_ping(raw, timeout=INTERVAL + 3)  # not answered
    started = time.monotonic()
    async with asyncio.timeout(INTERVAL + 3 * TIMEOUT + 3):
        while True:  # the server ends the websocket; no more pings meanwhile
            message = await raw.ws.receive()
            if message.type != aiohttp.WSMsgType.TEXT:
                break
            assert message.data != "2", "pinged again before the last ping was answered"
    assert time.monotonic() - started >= TIMEOUT * 0.9
    async with asyncio.timeout(5):
        while await clients_on_health(server) != 0:  # noqa: ASYNC110 - polled, bounded
            await asyncio.sleep(0.05)


@pytest.mark.fast_path_only
async def test_pings_take_no_task_per_client(server: Running, http: aiohttp.ClientSession) -> None:
    baseline = len(asyncio.all_tasks())
    raws = [await RawSocket.open(http, server.url) for _ in range(40)]
    try:
        for raw in raws:  # every client pinged and answered once: the next ping is due
            await next_ping(raw, timeout=INTERVAL + 3)
            await raw.ws.send_str("3")
        # aiohttp keeps two tasks per connection (the protocol and the websocket's
        # handler); engine.io's stock ping loop adds a sleeping task per client.
        assert len(asyncio.all_tasks()) - baseline <= 2 * len(raws) + 5
    finally:
        for raw in raws:
            await raw.close()
