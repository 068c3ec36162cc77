"""Delivery guarantees across real restarts and crashes of the server process."""

from __future__ import annotations

import asyncio
import signal
from pathlib import Path

import aiohttp
import pytest

from tests.clients import EventRecorder
from tests.processes import ServerProcess


@pytest.fixture
async def processes():
    started: list[ServerProcess] = []
    yield started
    for proc in started:
        await proc.kill()


async def _start(processes: list, db: Path, port: int | None = None) -> ServerProcess:
    proc = ServerProcess(db, port=port)
    processes.append(proc)
    await proc.start()
    return proc


async def _patch(http: aiohttp.ClientSession, url: str, i: int) -> int:
    async with http.patch(f"{url}/api/models/sdxl", json={"description": f"rev {i}"}) as resp:
        return resp.status


async def test_catch_up_across_a_sigterm_restart(processes, tmp_path: Path, http) -> None:
    db = tmp_path / "restart.db"
    proc = await _start(processes, db)
    client = EventRecorder()
    await client.connect(proc.url)
    for i in range(3):
        assert await _patch(http, proc.url, i) == 200
    await client.wait_for("proxy:status", where=lambda d: d["seq"] == 6)
    await client.close()
    await proc.signal(signal.SIGTERM)
    assert await proc.wait(10) == 0

    proc = await _start(processes, db, port=proc.port)
    for i in range(3, 28):
        assert await _patch(http, proc.url, i) == 200
    again = EventRecorder()
    await again.connect(proc.url, auth={"lastSeq": 6})
    await again.wait_for("proxy:status", 26)
    replayed = [d["seq"] for _, d in again.events[:50]]
    assert replayed == list(range(7, 57))  # seq continued across the restart, nothing lost
    await again.close()


async def test_kill_9_during_a_burst_keeps_every_acknowledged_write(
    processes, tmp_path: Path, http
) -> None:
    db = tmp_path / "crash.db"
    proc = await _start(processes, db)
    acknowledged: list[str] = []
    enough = asyncio.Event()

    async def create(i: int) -> None:
        try:
            async with http.post(
                f"{proc.url}/api/models", json={"id": f"c{i}", "name": f"C{i}"}
            ) as resp:
                if resp.status == 201:
                    acknowledged.append(f"c{i}")
                    if len(acknowledged) >= 20:
                        enough.set()
        except aiohttp.ClientError:
            pass  # in flight when the process died: not acknowledged

    burst = [asyncio.create_task(create(i)) for i in range(200)]
    await asyncio.wait_for(enough.wait(), 10)
    assert proc.proc is not None
    proc.proc.kill()  # SIGKILL: no shutdown code runs
    await proc.proc.wait()
    await asyncio.gather(*burst)
    assert 20 <= len(acknowledged) < 200

    proc = await _start(processes, db)
    async with http.get(f"{proc.url}/api/models") as resp:
        stored = {m["id"] for m in await resp.json()}
    assert set(acknowledged) <= stored
    async with http.get(f"{proc.url}/api/events?since=0&limit=1000") as resp:
        logged = await resp.json()
    created = {e["data"]["modelId"] for e in logged if e["event"] == "models:updated"}
    assert set(acknowledged) <= created  # each acknowledged write's event is in the log
    seqs = [e["seq"] for e in logged]
    assert seqs == list(range(1, len(seqs) + 1))
