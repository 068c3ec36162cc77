"""The server as a user runs it: ``python -m server``, signals and a quick clean exit."""

from __future__ import annotations

import asyncio
import signal
import socket
import sys
import time
from pathlib import Path

import aiohttp
import pytest

from tests.children import Child
from tests.clients import EventRecorder
from tests.processes import ServerProcess, free_port


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


def serve_argv(db: Path, port: int, *extra: str) -> list[str]:
    return [sys.executable, "-m", "server", "serve", "--port", str(port), "--db", str(db),
            "--log-level", "INFO", *extra]  # fmt: skip


async def test_a_port_in_use_is_one_error_line_and_exit_1(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        child = await Child.start(*serve_argv(tmp_path / "busy.db", port))
        try:
            code = await child.wait(timeout=20)
        finally:
            await child.close()
    assert code == 1, child.transcript()
    assert child.out == [] and child.err == [
        f"error: cannot listen on 127.0.0.1:{port}: address already in use "
        "(another process has this port; pick one with --port)"
    ], child.transcript()
    assert not (tmp_path / "busy.db").exists()  # nothing was started before the bind


async def test_a_router_port_of_zero_is_a_usage_error_naming_the_option(tmp_path: Path) -> None:
    child = await Child.start(*serve_argv(tmp_path / "r.db", free_port(), "--router-port", "0"))
    try:
        code = await child.wait(timeout=20)
    finally:
        await child.close()
    assert code == 2, child.transcript()
    assert child.err[-1] == (
        "Error: invalid setting router_port: the built-in router needs a fixed port (1-65535)"
    ), child.transcript()
    assert not (tmp_path / "r.db").exists()


async def test_the_ready_line_comes_once_serving_and_names_the_pages_and_a_new_key(
    tmp_path: Path, http: aiohttp.ClientSession
) -> None:
    db = tmp_path / "ready.db"
    for first in (True, False):
        port = free_port()
        child = await Child.start(*serve_argv(db, port))
        try:
            line = await child.wait_line(lambda text: "modeldeck ready on" in text, err=True)
            # Printed only once the port accepts and the app has started: no retry needed.
            async with http.get(f"http://127.0.0.1:{port}/health") as resp:
                assert resp.status == 200
            base = f"http://127.0.0.1:{port}"
            assert f"modeldeck ready on {base} (db {db}, " in line
            assert f"dashboard {base}/, live event page {base}/test-client" in line
            generated = f"; new secret key file {db}.key (back it up with the database)"
            assert (generated in line) is first, line
            child.signal(signal.SIGTERM)
            assert await child.wait() == 0
        finally:
            await child.close()
