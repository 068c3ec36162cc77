"""One process supervises the proxies at a time, whichever of several is asked."""

from __future__ import annotations

import asyncio
import contextlib
import signal
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from tests.openai_standin import free_port
from tests.processes import ServerProcess
from tests.test_supervisor import HTTP_SERVER, alive, wait_gone, write_config

NAMES = ("providerRouter", "webby")


@pytest.fixture
async def processes() -> AsyncIterator[list[ServerProcess]]:
    started: list[ServerProcess] = []
    yield started
    for proc in started:  # SIGTERM: the holder stops its proxies (SIGKILL would leave them)
        if proc.proc is not None and proc.proc.returncode is None:
            await proc.signal(signal.SIGTERM)
            with contextlib.suppress(TimeoutError):
                await proc.wait(15)
        await proc.kill()


async def status_of(http: aiohttp.ClientSession, url: str) -> dict[str, Any]:
    async with http.get(f"{url}/api/proxy/status") as resp:
        assert resp.status == 200
        return await resp.json()  # type: ignore[no-any-return]


def pids(status: dict[str, Any]) -> dict[str, int | None]:
    return {name: status[name]["pid"] for name in NAMES}


async def test_any_process_starts_and_stops_the_proxies_and_a_killed_holder_is_replaced(
    processes: list[ServerProcess], tmp_path: Path, http: aiohttp.ClientSession
) -> None:
    config = write_config(tmp_path, {"webby": {"command": HTTP_SERVER, "port": free_port()}})
    db = tmp_path / "shared.db"
    args = ("--router-port", str(free_port()), "--proxy-config", str(config))
    for name in ("a", "b"):
        proc = ServerProcess(db, *args, "--process-name", name)
        processes.append(proc)
        await proc.start()
    a, b = processes  # a started first: a supervises

    async with http.post(f"{b.url}/api/proxy/start") as resp:  # asked through b
        assert resp.status == 200, await resp.text()
        started = await resp.json()
    assert started["status"] == "running"
    first = pids(started)
    assert pids(await status_of(http, a.url)) == first  # the same processes on both
    assert all(pid is not None and alive(pid) for pid in first.values())

    await a.kill()  # SIGKILL the supervising process
    killed_at = time.monotonic()
    async with asyncio.timeout(10):
        while True:
            now = await status_of(http, b.url)
            if now["status"] == "running" and pids(now) != first:
                break
            await asyncio.sleep(0.05)
    assert time.monotonic() - killed_at < 10
    second = pids(now)
    assert not set(second.values()) & set(first.values())
    for pid in first.values():  # nothing the killed process ran is left
        assert pid is not None
        await wait_gone(pid)

    async with http.post(f"{b.url}/api/proxy/stop") as resp:
        assert resp.status == 200
        assert (await resp.json())["status"] == "stopped"
    for pid in second.values():
        assert pid is not None
        await wait_gone(pid)


async def test_a_second_process_does_not_touch_the_first_ones_proxies(
    processes: list[ServerProcess], tmp_path: Path, http: aiohttp.ClientSession
) -> None:
    """Both started with --proxy-autostart: one set of proxies, supervised by the first."""
    config = write_config(tmp_path, {"webby": {"command": HTTP_SERVER, "port": free_port()}})
    db = tmp_path / "shared.db"
    args = ("--router-port", str(free_port()), "--proxy-config", str(config),
            "--proxy-autostart")  # fmt: skip
    a = ServerProcess(db, *args)
    processes.append(a)
    await a.start()
    first = pids(await status_of(http, a.url))
    b = ServerProcess(db, *args)
    processes.append(b)
    await b.start()
    async with asyncio.timeout(5):
        while pids(await status_of(http, b.url)) != first:  # noqa: ASYNC110 - b's view catches up
            await asyncio.sleep(0.05)
    assert pids(await status_of(http, a.url)) == first
    assert all(pid is not None and alive(pid) for pid in first.values())


async def test_when_the_holder_shuts_down_another_process_takes_the_proxies_over(
    processes: list[ServerProcess], tmp_path: Path, http: aiohttp.ClientSession
) -> None:
    config = write_config(tmp_path, {"webby": {"command": HTTP_SERVER, "port": free_port()}})
    db = tmp_path / "shared.db"
    args = ("--router-port", str(free_port()), "--proxy-config", str(config),
            "--proxy-autostart")  # fmt: skip
    for _ in range(2):
        proc = ServerProcess(db, *args)
        processes.append(proc)
        await proc.start()
    a, b = processes
    first = pids(await status_of(http, a.url))
    await a.signal(signal.SIGTERM)
    assert await a.wait(15) == 0
    for pid in first.values():  # a stopped its own children on the way out
        assert pid is not None
        await wait_gone(pid)
    async with asyncio.timeout(10):
        while True:  # b's view of a's proxies is up to TICK old: wait for b's own
            now = await status_of(http, b.url)
            if now["status"] == "running" and not set(pids(now).values()) & set(first.values()):
                break
            await asyncio.sleep(0.05)
    assert all(pid is not None and alive(pid) for pid in pids(now).values())
    async with http.get(f"{b.url}/health") as resp:
        assert (await resp.json())["process"]["supervisesProxies"] is True
