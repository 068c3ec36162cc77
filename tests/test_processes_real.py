"""Three real modeldeck processes on one database, one SIGKILLed; Python and Node clients."""

from __future__ import annotations

import asyncio
import os
import signal
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest

from tests.children import NODE, Child, require_npm_packages
from tests.clients import EventRecorder
from tests.processes import ServerProcess

SEQ_EVENTS = ("models:updated", "proxy:status")


@pytest.fixture
async def processes() -> AsyncIterator[list[ServerProcess]]:
    started: list[ServerProcess] = []
    yield started
    for proc in started:
        await proc.kill()


async def _patch(http: aiohttp.ClientSession, url: str, i: int) -> None:
    async with http.patch(f"{url}/api/models/sdxl", json={"description": f"rev {i}"}) as resp:
        assert resp.status == 200, await resp.text()


@pytest.mark.skipif(NODE is None, reason="node is not installed (CI installs it)")
async def test_clients_of_every_process_get_every_write_when_one_process_is_killed(
    processes: list[ServerProcess], tmp_path: Path, http: aiohttp.ClientSession
) -> None:
    require_npm_packages()
    db = tmp_path / "shared.db"
    for name in ("a", "b", "c"):
        proc = ServerProcess(db, "--process-name", name)
        processes.append(proc)
        await proc.start()
    a, b, c = processes
    python_client = EventRecorder()
    await python_client.connect(a.url)
    start = (await python_client.next("proxy:status"))["seq"]
    env = {k: v for k, v in os.environ.items() if not k.startswith("MODELDECK_")}
    node = await Child.start(NODE or "node", "test_clients/node_client.js", "--url", b.url,
                             "--transports", "websocket", env=env)  # fmt: skip
    try:
        await node.wait_event("proxy:status")
        # Writes through c, then c is killed mid-burst; the others carry on through a and b.
        burst = [asyncio.create_task(_patch(http, c.url, i)) for i in range(10)]
        await asyncio.gather(*burst[:5])
        await c.kill()
        await asyncio.gather(*burst[5:], return_exceptions=True)  # some may die with c
        for i in range(10, 16):
            await _patch(http, (a, b)[i % 2].url, i)
        async with http.get(f"{a.url}/api/events?since={start}&limit=1000") as resp:
            last = (await resp.json())[-1]["seq"]  # the log: every committed write
        async with http.get(b.url + "/health") as resp:
            health_b = await resp.json()
        assert health_b["process"]["name"] == "b"

        await python_client.until(
            lambda: any(d["seq"] == last for n, d in python_client.events if n in SEQ_EVENTS), 10
        )
        await node.wait_event("proxy:status", lambda d: d["seq"] == last)
        from_python = [d["seq"] for n, d in python_client.events if n in SEQ_EVENTS][1:]
        from_node = [d["seq"] for n, d in node.events() if n in SEQ_EVENTS][1:]
        assert from_python == list(range(start + 1, last + 1))
        assert from_node == from_python
        described = [d for n, d in node.events("models:updated")]
        assert len(described) == (last - start) // 2
    finally:
        await python_client.close()
        await node.close()
    for proc in (a, b):
        await proc.signal(signal.SIGTERM)
        assert await proc.wait(10) == 0
