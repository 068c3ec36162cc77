"""The server as a user runs it: ``python -m server``, signals and a quick clean exit."""

from __future__ import annotations

import asyncio
import signal
import time
from pathlib import Path

import pytest

from tests.clients import EventRecorder
from tests.processes import ServerProcess


@pytest.fixture
async def process(tmp_path: Path):
    proc = ServerProcess(tmp_path / "proc.db")
    yield proc
    await proc.kill()


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
async def test_signal_with_clients_connected_exits_quickly(process: ServerProcess, signum) -> None:
    await process.start()
    clients = [EventRecorder() for _ in range(20)]
    await asyncio.gather(*(c.connect(process.url) for c in clients))
    disconnected = asyncio.Event()
    clients[0].sio.on("disconnect", lambda *_: disconnected.set())
    await asyncio.gather(*(c.wait_for("proxy:status") for c in clients))

    started = time.monotonic()
    await process.signal(signum)
    code = await process.wait(timeout=10)
    elapsed = time.monotonic() - started
    assert code == 0, process.log.read_text()[-2000:]
    assert elapsed < 5, f"shutdown took {elapsed:.1f}s"
    await asyncio.wait_for(disconnected.wait(), 5)  # the clients were told
    for client in clients:
        await client.close()


async def test_refuses_public_host_without_token(process: ServerProcess) -> None:
    proc = await asyncio.create_subprocess_exec(
        *(__import__("sys").executable, "-m", "server", "serve", "--host", "0.0.0.0",
          "--db", str(process.db)),
        stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    _, stderr = await asyncio.wait_for(proc.communicate(), 20)
    assert proc.returncode == 2
    assert b"refusing to bind 0.0.0.0 without a token" in stderr
    assert not process.db.exists()
