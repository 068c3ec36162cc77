"""``modeldeck serve --workers N``: N processes on one port, websocket clients on all."""

from __future__ import annotations

import asyncio
import contextlib
import signal
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest

from tests.clients import EventRecorder
from tests.processes import ServerProcess, free_port
from tests.test_supervisor import alive, wait_gone


@pytest.fixture
async def processes() -> AsyncIterator[list[ServerProcess]]:
    started: list[ServerProcess] = []
    yield started
    for proc in started:  # SIGTERM: the parent waits for its workers to exit
        if proc.proc is not None and proc.proc.returncode is None:
            await proc.signal(signal.SIGTERM)
            with contextlib.suppress(TimeoutError):
                await proc.wait(15)
        await proc.kill()


async def fresh_get(url: str) -> dict:  # type: ignore[type-arg]
    """A GET on a new TCP connection (the kernel picks the worker per connection)."""
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(force_close=True)) as http:
        async with http.get(url) as resp:
            assert resp.status == 200
            return await resp.json()  # type: ignore[no-any-return]


async def both_workers(server: ServerProcess) -> set[int]:
    """The pids of the two workers, once both answer."""
    pids: set[int] = set()
    async with asyncio.timeout(20):
        while len(pids) < 2:
            pids.add((await fresh_get(server.url + "/health"))["process"]["pid"])
    return pids


async def test_two_workers_share_the_port_and_every_websocket_client_gets_every_event(
    processes: list[ServerProcess], tmp_path: Path, http: aiohttp.ClientSession
) -> None:
    server = ServerProcess(tmp_path / "w.db", "--workers", "2")
    processes.append(server)
    await server.start()
    pids = await both_workers(server)
    clients = [EventRecorder() for _ in range(8)]
    try:
        for client in clients:
            await client.connect(server.url)  # websocket only (the tests' default)
        greeted = [await client.next("proxy:status") for client in clients]
        for i in range(3):
            async with http.patch(f"{server.url}/api/models/sdxl",
                                  json={"description": f"rev {i}"}) as resp:  # fmt: skip
                assert resp.status == 200
        for client, greeting in zip(clients, greeted, strict=True):
            await client.wait_for("models:updated", 3)
            seqs = [d["seq"] for name, d in client.events if name.endswith(":updated")]
            assert seqs == sorted(seqs) and seqs[0] > greeting["seq"]
    finally:
        for client in clients:
            await client.close()
    await server.signal(signal.SIGTERM)
    assert await server.wait(15) == 0
    for pid in pids:  # the workers went with their parent
        await wait_gone(pid)


async def test_workers_end_when_their_parent_is_killed(
    processes: list[ServerProcess], tmp_path: Path
) -> None:
    server = ServerProcess(tmp_path / "w.db", "--workers", "2")
    processes.append(server)
    await server.start()
    pid = (await fresh_get(server.url + "/health"))["process"]["pid"]
    assert alive(pid)
    await server.kill()
    await wait_gone(pid, timeout=10)


async def test_a_second_server_on_a_port_in_use_exits_with_one_line(
    processes: list[ServerProcess], tmp_path: Path
) -> None:
    port = free_port()
    first = ServerProcess(tmp_path / "a.db", "--workers", "2", port=port)
    processes.append(first)
    await first.start()
    second = await asyncio.create_subprocess_exec(
        *ServerProcess(tmp_path / "b.db", port=port).command(), "--workers", "2",
        stderr=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
    )  # fmt: skip
    _, err = await asyncio.wait_for(second.communicate(), 20)
    assert second.returncode == 1
    lines = err.decode().strip().splitlines()
    assert lines == [f"Error: cannot listen on 127.0.0.1:{port}: Address already in use"]


async def test_a_polling_session_is_known_only_to_the_worker_that_opened_it(
    processes: list[ServerProcess], tmp_path: Path
) -> None:
    """Why long-polling needs --workers 1 or sticky sessions (README)."""
    server = ServerProcess(tmp_path / "w.db", "--workers", "2")
    processes.append(server)
    await server.start()
    await both_workers(server)
    base = server.url + "/socket.io/?EIO=4&transport=polling"
    statuses: set[int] = set()
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(force_close=True)) as http:
        async with http.get(base) as resp:
            sid = (await resp.text()).split('"sid":"')[1].split('"')[0]
        for _ in range(30):  # each on a new connection: some reach the other worker
            async with http.post(f"{base}&sid={sid}", data="3",
                                 headers={"Content-Type": "text/plain"}) as resp:  # fmt: skip
                statuses.add(resp.status)
            if 400 in statuses:
                break
    assert 400 in statuses
