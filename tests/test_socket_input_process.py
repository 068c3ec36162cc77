"""Hostile socket input against a real ``modeldeck serve`` process: its memory (RSS from
``/proc``), its log file, and what a well-behaved client meanwhile receives."""

from __future__ import annotations

import asyncio
import contextlib
import random
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest

from tests.clients import EventRecorder
from tests.hostile import RawSocket, oversized_polls, random_frame, rss_kib
from tests.processes import ServerProcess

MB = 1024  # KiB

#: Amounts of garbage in the log that no hostile input may exceed.
LOG_BOUND = 16 * 1024


@pytest.fixture
async def served(tmp_path: Path) -> AsyncIterator[ServerProcess]:
    server = ServerProcess(tmp_path / "modeldeck.db", "--no-seed")
    try:
        await server.start()
        yield server
    finally:
        await server.kill()


@pytest.fixture
async def watcher(served: ServerProcess) -> AsyncIterator[EventRecorder]:
    """A well-behaved dashboard, connected throughout."""
    client = EventRecorder()
    await client.connect(served.url)
    await client.next("proxy:status")
    try:
        yield client
    finally:
        await client.close()


def pid_of(server: ServerProcess) -> int:
    assert server.proc is not None
    return server.proc.pid


async def health_clients(http: aiohttp.ClientSession, server: ServerProcess) -> int:
    async with http.get(server.url + "/health") as resp:
        return int((await resp.json())["clients"])


async def until_clients(http: aiohttp.ClientSession, server: ServerProcess, count: int) -> None:
    async with asyncio.timeout(10):
        while await health_clients(http, server) != count:  # noqa: ASYNC110 - polled over HTTP
            await asyncio.sleep(0.05)


async def write_and_receive(
    http: aiohttp.ClientSession, server: ServerProcess, watcher: EventRecorder, n: int
) -> None:
    """Create provider ``p<n>``; the watcher must receive its event."""
    body = {"name": f"P{n}", "sdkId": f"p{n}", "baseUrl": "http://127.0.0.1:9"}
    async with http.post(server.url + "/api/providers", json=body) as resp:
        assert resp.status == 201, await resp.text()
    event = await watcher.next("providers:updated", where=lambda e: e["providerId"] == f"p{n}")
    assert event["action"] == "created"


def log_problems(text: str) -> list[str]:
    return [
        line
        for line in text.splitlines()
        if "Traceback" in line or "never retrieved" in line or " ERROR " in line
    ]


@pytest.mark.timeout(180)
async def test_memory_returns_to_baseline_after_1000_oversized_polling_posts(
    served: ServerProcess,
) -> None:
    """Each POST over maxPayload used to hang forever holding its session and body:
    1,000 of them grew the server by ~700 MB, never released."""
    await oversized_polls(served.url, 40, 1_000_001)  # warm up the code paths
    baseline = rss_kib(pid_of(served))
    statuses = await oversized_polls(served.url, 1000, 1_000_001)
    grown = rss_kib(pid_of(served)) - baseline
    assert grown < 40 * MB, f"RSS grew {grown // MB} MB"
    assert statuses == {413: 1000}


@pytest.mark.timeout(120)
async def test_binary_attachments_are_not_buffered(served: ServerProcess) -> None:
    """After a ``459999999-`` header every binary frame was kept: 300 of 900 KB
    took 260 MB."""
    pid = pid_of(served)
    baseline = rss_kib(pid)
    async with aiohttp.ClientSession() as http:
        raw = await RawSocket.open(http, served.url)
        await raw.ws.send_str('459999999-["x",{"_placeholder":true,"num":0}]')
        for _ in range(150):
            try:
                await raw.ws.send_bytes(b"\0" * 900_000)
            except ConnectionError:
                break
        assert await raw.closed()
        grown = rss_kib(pid) - baseline
        await until_clients(http, served, 0)
    assert grown < 40 * MB, f"RSS grew {grown // MB} MB"


async def test_malformed_frames_barely_grow_the_log_and_others_keep_receiving(
    served: ServerProcess, watcher: EventRecorder
) -> None:
    """5,000 frames of ``4x`` grew the log by 9.5 MB (two tracebacks each)."""
    async with aiohttp.ClientSession() as http:
        await write_and_receive(http, served, watcher, 0)
        before = served.log.stat().st_size
        for _ in range(10):
            raw = await RawSocket.open(http, served.url)
            for _ in range(500):
                try:
                    await raw.ws.send_str("4x")
                except ConnectionError:
                    break
            assert await raw.closed()
            await raw.close()
        await until_clients(http, served, 1)
        await write_and_receive(http, served, watcher, 1)
        # engine.io's own errors: logged once, through our handler only (no second copy)
        async with http.get(served.url + "/socket.io/?EIO=4&transport=polling&sid=nope") as r:
            assert r.status == 400
        await write_and_receive(http, served, watcher, 2)  # its log line is written by now
    text = served.log.read_text()
    grown = len(text.encode()) - before
    assert grown < LOG_BOUND, f"log grew {grown} bytes"
    assert "Traceback" not in text
    assert text.count("Invalid session nope") == 1


async def test_frames_that_are_not_engineio_packets_leave_no_traceback(
    served: ServerProcess, watcher: EventRecorder
) -> None:
    """``x``, ``9`` and non-ASCII first bytes are no engine.io packet type. On either
    path the socket's end is one debug line at most, never a traceback or an ERROR."""
    async with aiohttp.ClientSession() as http:
        for n, frame in enumerate(["x", "9", "\u02c3", "9" * 1000] * 5):
            ws = await http.ws_connect(served.url + "/socket.io/?EIO=4&transport=websocket")
            await ws.receive_str(timeout=5)  # engine.io's OPEN
            if n % 2:
                await ws.send_str("40")
            with contextlib.suppress(ConnectionError):
                await ws.send_str(frame)
            await ws.close()
        await write_and_receive(http, served, watcher, 0)  # later lines are written by now
    assert log_problems(served.log.read_text()) == []


# Stock python-engineio keeps the session of a websocket that sent an undecodable frame
# until its ping timeout; only the fast path's transport closes it at once.
@pytest.mark.fast_path_only
@pytest.mark.timeout(180)
async def test_random_frames_cause_no_traceback_and_leave_others_unaffected(
    served: ServerProcess, watcher: EventRecorder
) -> None:
    """3,000 random and malformed frames (fixed seed) over 300 raw websockets, while a
    dashboard watches 30 writes: it receives every one, in order; the log has no
    traceback; the offenders are dropped and ``/health`` counts only the dashboard."""
    rng = random.Random(1212)
    batches = [(rng.random() < 0.5, [random_frame(rng) for _ in range(10)]) for _ in range(300)]
    dropped = 0

    async def offend(http: aiohttp.ClientSession, connect: bool, frames: list[str | bytes]) -> None:
        nonlocal dropped
        ws = await http.ws_connect(served.url + "/socket.io/?EIO=4&transport=websocket")
        raw = RawSocket(ws, "")
        await ws.receive_str(timeout=5)  # engine.io's OPEN
        try:
            if connect:
                await ws.send_str("40")
            for frame in frames:
                await (ws.send_bytes(frame) if isinstance(frame, bytes) else ws.send_str(frame))
        except ConnectionError:
            pass
        gone = await raw.closed(timeout=5)  # not `dropped += await`: that reads first
        dropped += gone
        await ws.close()

    async with aiohttp.ClientSession() as http:
        todo = iter(batches)

        async def offender() -> None:
            for connect, frames in todo:
                await offend(http, connect, frames)

        async def writer() -> None:
            for n in range(30):
                await write_and_receive(http, served, watcher, n)

        await asyncio.gather(writer(), *(offender() for _ in range(8)))
        assert log_problems(served.log.read_text()) == []
        await until_clients(http, served, 1)

    assert len(watcher.of("providers:updated")) == 30
    seqs = [data["seq"] for _, data in watcher.events[1:]]  # after the greeting
    assert seqs == list(range(1, len(seqs) + 1))  # every event, in order, no gap
    assert dropped > 250, f"only {dropped} of 300 offenders were dropped"
