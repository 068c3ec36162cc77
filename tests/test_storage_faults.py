"""Storage faults: cancelled writes, a full disk, a deleted or immutable database file.

Each fault is made for real: another process holds SQLite's write lock, the database
lives on a small tmpfs that is filled up, its file is unlinked or replaced, its files
are made immutable with ``chattr +i`` under a server running as its own process.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import sqlite3
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from server.http.schemas import ProviderCreate
from server.keys import DATABASE, REGISTRY, SUPERVISOR
from tests.clients import Api, EventRecorder, eventually
from tests.conftest import Running, ServerFactory
from tests.processes import ServerProcess, free_port

#: Holds the database's write lock (BEGIN IMMEDIATE) until a line arrives on stdin.
LOCK_HOLDER = (
    "import sqlite3, sys\n"
    "db = sqlite3.connect(sys.argv[1], isolation_level=None)\n"
    "db.execute('BEGIN IMMEDIATE')\n"
    "print('locked', flush=True)\n"
    "sys.stdin.readline()\n"
    "db.execute('ROLLBACK')\n"
)


def provider(n: int | str) -> dict[str, Any]:
    return {"name": f"Provider {n}", "sdkId": f"sdk-{n}"}


async def health(api: Api) -> tuple[int, dict[str, Any]]:
    return await api.get("/health")


@contextlib.asynccontextmanager
async def write_lock_held(db: Path) -> AsyncIterator[None]:
    """Another process holds the database's write lock until the block ends."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-c", LOCK_HOLDER, str(db),
        stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
    )  # fmt: skip
    assert proc.stdin is not None and proc.stdout is not None
    try:
        assert await asyncio.wait_for(proc.stdout.readline(), 10) == b"locked\n"
        yield
    finally:
        with contextlib.suppress(OSError):
            proc.stdin.write(b"release\n")
            await proc.stdin.drain()
        try:
            await asyncio.wait_for(proc.wait(), 10)
        finally:
            if proc.returncode is None:
                proc.kill()
                await proc.wait()


# -- a cancelled write --------------------------------------------------------------


async def test_proxy_stop_during_a_locked_status_write_leaves_writes_working(
    start_server: ServerFactory, db_path: Path, tmp_path: Path, connect
) -> None:
    """The issue's reproduction: the stop cancels the proxy's status write mid-BEGIN."""
    config = tmp_path / "proxies.json"
    http_server = [sys.executable, "-m", "http.server", "{port}", "--bind", "127.0.0.1"]
    config.write_text(json.dumps({"processes": {
        "webby": {"command": http_server, "port": free_port(), "stopGrace": 2},
    }}))  # fmt: skip
    server = await start_server(proxy_config=config)
    client: EventRecorder = await connect(server.url)
    supervisor = server.app[SUPERVISOR]
    webby = supervisor.get("webby")
    async with write_lock_held(db_path):
        # The supervisor itself, as the lease holder drives it once a start request is
        # recorded (that record is a write too, and would wait for the lock first).
        starting = asyncio.create_task(supervisor.start("webby"))
        # "started pid" is noted just before the first proxy:status write, which now
        # waits in BEGIN IMMEDIATE for the other process's lock.
        await eventually(lambda: any("started pid" in line for line in webby.output.tail()))
        supervising = next(t for t in asyncio.all_tasks() if t.get_name() == "proxy webby")
        stopping = asyncio.create_task(supervisor.stop("webby"))
        await eventually(lambda: supervising.done() or supervising.cancelling() > 0)
    await stopping
    await starting

    status, created = await server.api.post("/api/providers", provider("after"))
    assert status == 201, created
    await client.wait_for("providers:updated", where=lambda e: e["providerId"] == created["id"])
    status, state = await health(server.api)
    assert status == 200 and state["status"] == "ok" and state["db"] == "ok"


async def test_a_write_cancelled_at_any_point_is_saved_and_broadcast_or_not_saved(
    server: Running, db_path: Path, connect
) -> None:
    """Cancel a write after 0, 1, 2… turns of the event loop, so some cancellations land
    in BEGIN, some in the statements, some in COMMIT: each write is then either saved
    and broadcast, or not saved at all, and the writer goes on working."""
    client: EventRecorder = await connect(server.url)
    registry = server.app[REGISTRY]
    for turns in range(60):
        write = asyncio.create_task(registry.create_provider(ProviderCreate(**provider(turns))))
        for _ in range(turns):
            await asyncio.sleep(0)
        write.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await write
    status, last = await server.api.post("/api/providers", provider("last"))
    assert status == 201, last
    # Events arrive in seq order: once the last write's is here, every earlier one is.
    await client.wait_for("providers:updated", where=lambda e: e["providerId"] == last["id"])
    saved = {p["id"] for p in (await server.api.get("/api/providers"))[1]}
    created = [e for e in client.of("providers:updated") if e["action"] == "created"]
    broadcast = {e["providerId"] for e in created}
    assert saved - {"google", "stabilityai", "flux"} == broadcast
    assert (await health(server.api))[0] == 200


# -- a full disk --------------------------------------------------------------------


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path | None]:
    """A 4 MB tmpfs for the database, or ``None`` where mounting is not permitted."""
    mount = tmp_path / "small-disk"
    mount.mkdir()
    try:
        done = subprocess.run(
            ["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", str(mount)], capture_output=True
        )
    except FileNotFoundError:
        done = None
    if done is None or done.returncode != 0:
        yield None
        return
    try:
        yield mount
    finally:
        subprocess.run(["umount", "--lazy", str(mount)], check=True)


class Filler:
    """Takes every free byte of a filesystem with one file, and gives it back."""

    def __init__(self, directory: Path) -> None:
        self.path = directory / "filler"

    async def fill(self) -> None:
        with self.path.open("wb", buffering=0) as out:
            for size in (65536, 4096, 512):
                with contextlib.suppress(OSError):  # ENOSPC: full at this grain
                    while True:
                        out.write(b"\0" * size)

    async def free(self) -> None:
        self.path.unlink()


class PageLimit:
    """Where no filesystem can be mounted (not root): SQLite's page limit stands in for
    the disk. A simulation: the database's file cannot grow, but rows that fit in its
    free pages still go in."""

    def __init__(self, server: Running) -> None:
        self.db = server.app[DATABASE]

    async def fill(self) -> None:
        await self._limit(1)  # SQLite raises it to the current size

    async def free(self) -> None:
        await self._limit(2**31)

    async def _limit(self, pages: int) -> None:
        async with self.db.transaction() as tx:
            await tx.execute(f"PRAGMA max_page_count = {pages}")


async def test_a_full_disk_answers_507_and_writes_resume_when_space_is_back(
    small_disk: Path | None, start_server: ServerFactory, tmp_path: Path, connect
) -> None:
    server = await start_server(db=(small_disk or tmp_path) / "modeldeck.db")
    client: EventRecorder = await connect(server.url)
    disk = Filler(small_disk) if small_disk is not None else PageLimit(server)
    await disk.fill()
    for n in range(1000):
        status, refused = await server.api.post("/api/providers", provider(n))
        if status != 201:
            break
    assert status == 507, refused
    assert refused["error"]["code"] == "insufficient_storage"
    assert "is full" in refused["error"]["message"]
    assert refused["error"]["details"] == {"service": "database"}
    if small_disk is not None:  # the page limit leaves room in pages already there
        status, state = await health(server.api)
        assert status == 503 and state["status"] != "ok" and "is full" in state["db"]

    await disk.free()
    status, state = await health(server.api)
    assert status == 200 and state["db"] == "ok"
    status, created = await server.api.post("/api/providers", provider("again"))
    assert status == 201, created
    await client.wait_for("providers:updated", where=lambda e: e["providerId"] == created["id"])


# -- a deleted or replaced database file --------------------------------------------


def take_away(db: Path, change: str) -> None:
    """Delete the database file, or put another SQLite file in its place."""
    if change == "deleted":
        db.unlink()
    else:
        other = db.with_name("other.db")
        sqlite3.connect(other).close()
        other.replace(db)


@pytest.mark.parametrize("change", ["deleted", "replaced"])
async def test_a_deleted_or_replaced_database_file_refuses_writes(
    server: Running, db_path: Path, change: str, connect
) -> None:
    client: EventRecorder = await connect(server.url)
    assert (await server.api.post("/api/providers", provider("kept")))[0] == 201
    take_away(db_path, change)

    status, refused = await server.api.post("/api/providers", provider("lost"))
    assert status == 503, refused
    assert refused["error"]["code"] == "unavailable"
    assert f"was {change}" in refused["error"]["message"]
    reply = await client.call("save_model", {"name": "Lost", "type": "chat"})
    assert reply["success"] is False and f"was {change}" in reply["error"]["message"]
    status, state = await health(server.api)
    assert status == 503 and state["status"] != "ok" and f"was {change}" in state["db"]
    assert not [e for e in client.of("providers:updated") if e["providerId"] == "provider-lost"]


# -- immutable database files -------------------------------------------------------


@contextlib.contextmanager
def unwritable(files: list[Path]) -> Iterator[str]:
    """``chattr +i`` the files (root), else take their write permission (a stand-in:
    an unprivileged user cannot make a file immutable); undone at the end."""
    made = subprocess.run(["chattr", "+i", *map(str, files)], capture_output=True)
    how = "chattr" if made.returncode == 0 else "chmod"
    if how == "chmod":
        for file in files:
            file.chmod(0o444)
    try:
        yield how
    finally:
        if how == "chattr":
            subprocess.run(["chattr", "-i", *map(str, files)], check=True)
        else:
            for file in files:
                file.chmod(0o644)


async def test_immutable_database_files_fail_requests_instead_of_killing_the_server(
    tmp_path: Path, http: aiohttp.ClientSession
) -> None:
    db = tmp_path / "modeldeck.db"
    server = ServerProcess(db, "--no-seed")
    await server.start()
    api = Api(http, server.url, None)
    try:
        assert (await api.post("/api/providers", provider("before")))[0] == 201
        # The first read after a commit writes a read mark into the -shm mapping; if the
        # file turns immutable between modeldeck's check and that read, the write is a
        # SIGBUS nothing can catch (a window of microseconds, which CI once hit here).
        # /health reads first, so the reads after it share the mark it wrote.
        assert (await health(api))[0] == 200
        files = [db, db.with_name(db.name + "-wal"), db.with_name(db.name + "-shm")]
        with unwritable(files):
            status, refused = await api.post("/api/providers", provider("refused"))
            assert status == 503, refused
            assert "cannot be written" in refused["error"]["message"]
            status, state = await health(api)
            assert status == 503 and "cannot be written" in state["db"]
            assert (await api.get("/api/providers"))[0] == 503  # a read would SIGBUS too
            assert server.proc is not None and server.proc.returncode is None
        assert "cannot be written" in server.log.read_text()  # the operator is told
        status, created = await api.post("/api/providers", provider("after"))
        assert status == 201, created
        assert (await health(api))[0] == 200
    finally:
        await server.kill()
