"""Interop: socket.io-client 4 from npm, through ``test_clients/node_client.js``.

The Node client is driven exactly as CI drives it: started with ``--expect`` (what it
must receive), it exits 0 once everything arrived. The test waits for it to be
connected (its first JSON line, the ``proxy:status`` greeting), makes the writes, and
then waits for the exit code; every wait has a timeout, none is a sleep. Both transport
set-ups are covered: websocket only, and the library's default long-polling first,
then upgrade.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
import signal
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from tests.conftest import Running
from tests.ollama_standin import OllamaStandin
from tests.processes import ServerProcess

ROOT = Path(__file__).resolve().parent.parent
TEST_CLIENTS = ROOT / "test_clients"
NODE = shutil.which("node")
TOKEN = "interop-secret"
TRANSPORTS = {"websocket": "websocket", "polling-then-upgrade": "polling,websocket"}

needs_node = pytest.mark.skipif(NODE is None, reason="node is not installed (CI installs it)")
pytestmark = needs_node


def require_npm_packages() -> None:
    """With node present, missing packages are a set-up error, not a reason to skip."""
    if not (TEST_CLIENTS / "node_modules" / "socket.io-client").is_dir():
        pytest.fail(f"run `npm ci` in {TEST_CLIENTS} first (scripts/test does)")


class Child:
    """A child process whose stdout and stderr lines are collected as they arrive."""

    def __init__(self, proc: asyncio.subprocess.Process) -> None:
        self.proc = proc
        self.out: list[str] = []
        self.err: list[str] = []
        self._changed = asyncio.Condition()
        assert proc.stdout is not None and proc.stderr is not None
        self._pumps = [
            asyncio.create_task(self._pump(proc.stdout, self.out)),
            asyncio.create_task(self._pump(proc.stderr, self.err)),
        ]

    @classmethod
    async def start(
        cls, *args: str, env: dict[str, str] | None = None, stdin: Any = asyncio.subprocess.DEVNULL
    ) -> Child:
        proc = await asyncio.create_subprocess_exec(
            *args,
            stdin=stdin,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            env=env,
            cwd=ROOT,
        )
        return cls(proc)

    async def _pump(self, stream: asyncio.StreamReader, lines: list[str]) -> None:
        while raw := await stream.readline():
            async with self._changed:
                lines.append(raw.decode(errors="replace").rstrip("\n"))
                self._changed.notify_all()
        async with self._changed:
            self._changed.notify_all()

    async def until(self, predicate: Callable[[], bool], *, timeout: float = 10) -> None:
        """Wait until ``predicate()`` holds, re-checked whenever a line arrives."""
        try:
            async with asyncio.timeout(timeout), self._changed:
                await self._changed.wait_for(lambda: predicate() or self.ended)
        except TimeoutError:
            raise AssertionError(f"not within {timeout}s\n{self.transcript()}") from None
        assert predicate(), f"exited first\n{self.transcript()}"

    async def wait_line(
        self, predicate: Callable[[str], bool], *, err: bool = False, timeout: float = 10
    ) -> str:
        """The first line (stdout, or stderr with ``err``) that matches ``predicate``."""
        lines = self.err if err else self.out

        def found() -> str | None:
            return next((line for line in lines if predicate(line)), None)

        await self.until(lambda: found() is not None, timeout=timeout)
        return found()  # type: ignore[return-value]

    async def wait_event(
        self, event: str, where: Callable[[Any], bool] | None = None, *, timeout: float = 10
    ) -> Any:
        """The data of the first JSON line ``{"event": event, ...}`` matching ``where``."""

        def matches(line: str) -> bool:
            record = _json(line)
            return (
                record is not None
                and record.get("event") == event
                and (where is None or where(record.get("data")))
            )

        return _json(await self.wait_line(matches, timeout=timeout))["data"]  # type: ignore[index]

    @property
    def ended(self) -> bool:
        return all(pump.done() for pump in self._pumps)

    def events(self, name: str | None = None) -> list[tuple[str, Any]]:
        records = [r for r in map(_json, self.out) if r is not None and "event" in r]
        return [(r["event"], r["data"]) for r in records if name is None or r["event"] == name]

    async def wait(self, timeout: float = 20) -> int:
        """The exit code, once the process has ended and its output is read."""
        try:
            async with asyncio.timeout(timeout):
                code = await self.proc.wait()
                await asyncio.gather(*self._pumps)
        except TimeoutError:
            raise AssertionError(f"still running after {timeout}s\n{self.transcript()}") from None
        return code

    def signal(self, signum: int) -> None:
        self.proc.send_signal(signum)

    async def close(self) -> None:
        if self.proc.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                self.proc.kill()
        await self.proc.wait()
        await asyncio.gather(*self._pumps, return_exceptions=True)

    def transcript(self) -> str:
        return (
            "--- stdout\n"
            + "\n".join(self.out[-40:])
            + "\n--- stderr\n"
            + "\n".join(self.err[-40:])
        )


def _json(line: str) -> dict[str, Any] | None:
    try:
        value = json.loads(line)
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


@pytest.fixture
async def children() -> AsyncIterator[list[Child]]:
    started: list[Child] = []
    yield started
    for child in started:
        await child.close()


@pytest.fixture
def node_client(children: list[Child], tmp_path: Path) -> Callable[..., Any]:
    """Start ``node_client.js`` with ``--expect`` written to a file, as CI does."""
    require_npm_packages()

    async def start(
        url: str,
        *,
        expect: list[Any] | None,
        transports: str,
        token: str | None,
        extra: tuple[str, ...] = (),
    ) -> Child:
        args = [NODE or "node", "test_clients/node_client.js", "--url", url]
        args += ["--transports", transports, *extra]
        if token:
            args += ["--token", token]
        if expect is not None:  # without: it listens until SIGTERM
            expect_file = tmp_path / f"expect-{len(children)}.json"
            expect_file.write_text(json.dumps(expect))
            args += ["--expect", str(expect_file), "--timeout", "20"]
        env = {k: v for k, v in os.environ.items() if not k.startswith("MODELDECK_")}
        child = await Child.start(*args, env=env)
        children.append(child)
        return child

    return start


both_transports = pytest.mark.parametrize("transports", TRANSPORTS.values(), ids=TRANSPORTS)
with_and_without_token = pytest.mark.parametrize("token", [None, TOKEN], ids=["open", "token"])


@both_transports
@with_and_without_token
async def test_receives_the_greeting_and_each_event_after_rest_writes(
    start_server, node_client, transports: str, token: str | None
) -> None:
    server: Running = await start_server(token=token)
    expect = [
        "proxy:status",
        {"event": "providers:updated", "contains": {"action": "created", "providerId": "ci"}},
        {"event": "models:updated", "contains": {"action": "created", "modelId": "ci-chat"}},
        {
            "event": "credentials:updated",
            "contains": {"action": "updated", "provider": "ci", "hasCredentials": True},
        },
        {"event": "models:updated", "contains": {"action": "default", "modelId": "ci-chat"}},
        {"event": "providers:updated", "contains": {"action": "disabled", "providerId": "ci"}},
    ]
    client = await node_client(server.url, expect=expect, transports=transports, token=token)
    await client.wait_event("proxy:status")
    if transports == "polling,websocket":
        await client.wait_line(lambda line: "upgraded to websocket" in line, err=True)

    api = server.api
    assert (await api.post("/api/providers", {"id": "ci", "name": "CI", "sdkId": "ci"}))[0] == 201
    model = {"id": "ci-chat", "name": "CI chat", "type": "chat", "providerId": "ci"}
    assert (await api.post("/api/models", model))[0] == 201
    assert (await api.post("/api/credentials/ci", {"token": "t0k3n"}))[0] == 200
    assert (await api.post("/api/models/ci-chat/set-default"))[0] == 200
    assert (await api.post("/api/providers/ci/disable"))[0] == 200

    assert await client.wait() == 0, client.transcript()
    seqs = [d["seq"] for name, d in client.events() if name.endswith(":updated")]
    assert seqs == sorted(seqs) and len(set(seqs)) == len(seqs), seqs
    assert all("t0k3n" not in line for line in client.out)  # secrets are never broadcast


@both_transports
@pytest.mark.parametrize("given", [None, "wrong"], ids=["no-token", "wrong-token"])
async def test_without_the_right_token_the_connection_is_refused(
    start_server, node_client, transports: str, given: str | None
) -> None:
    server: Running = await start_server(token=TOKEN)
    client = await node_client(
        server.url, expect=["proxy:status"], transports=transports, token=given
    )
    assert await client.wait() == 2, client.transcript()
    assert any("unauthorized" in line for line in client.err), client.transcript()
    assert client.events() == []


@both_transports
@with_and_without_token
async def test_follows_a_pull_room_to_the_end(
    start_server, node_client, transports: str, token: str | None
) -> None:
    async with OllamaStandin(bytes_per_second=6_400_000_000, lines_per_second=200) as ollama:
        server: Running = await start_server(token=token, ollama_url=ollama.url)
        expect = [
            "ack:pull:subscribe",
            {"event": "pull:progress", "contains": {"status": "downloading"}},
            {
                "event": "pull:complete",
                "contains": {"model": "tinyllama:latest", "status": "completed", "percent": 100},
            },
            {
                "event": "ollama:updated",
                "contains": {"action": "pulled", "model": "tinyllama:latest"},
            },
        ]
        client = await node_client(
            server.url,
            expect=expect,
            transports=transports,
            token=token,
            extra=("--pull-subscribe", "tinyllama"),
        )
        assert await client.wait_event("ack:pull:subscribe") is None  # never pulled yet

        status, job = await server.api.post("/api/ollama/pulls", {"model": "tinyllama"})
        assert status == 202, job

        assert await client.wait() == 0, client.transcript()
        ids = {d["id"] for name, d in client.events() if name.startswith("pull:")}
        assert ids == {job["id"]}
        assert [n for n, _ in client.events() if n in ("pull:complete", "pull:error")] == [
            "pull:complete"
        ]


@both_transports
@with_and_without_token
async def test_socket_requests_are_acked_and_broadcast(
    start_server, node_client, transports: str, token: str | None
) -> None:
    server: Running = await start_server(token=token)
    model = {"id": "from-node", "name": "From Node", "type": "chat"}
    config = {"id": "from-node", "type": "sampling", "config": {"temperature": 0.2}}
    expect = [
        {"event": "ack:save_model", "contains": {"success": True, "data": {"id": "from-node"}}},
        {"event": "model_saved", "contains": {"success": True}},
        {"event": "models:updated", "contains": {"action": "created", "modelId": "from-node"}},
        {"event": "ack:save_config", "contains": {"success": True}},
        {"event": "config_saved", "contains": {"success": True}},
        {"event": "models:updated", "contains": {"action": "config", "modelId": "from-node"}},
        {"event": "ack:save_model", "contains": {"success": False, "error": {}}},
    ]
    extra = (
        "--emit",
        "save_model",
        "--emit-data",
        json.dumps(model),
        "--emit",
        "save_config",
        "--emit-data",
        json.dumps(config),
        "--emit",
        "save_model",
        "--emit-data",
        json.dumps({"name": ""}),
    )
    client = await node_client(
        server.url, expect=expect, transports=transports, token=token, extra=extra
    )

    assert await client.wait() == 0, client.transcript()
    status, saved = await server.api.get("/api/models/from-node/config/sampling")
    assert status == 200 and saved["config"] == {"temperature": 0.2}


async def test_reconnects_by_itself_across_a_restart_without_gaps(
    node_client, tmp_path: Path, http: aiohttp.ClientSession
) -> None:
    """socket.io-client re-sends ``auth`` (a callback) on every reconnect: lastSeq resumes."""
    db = tmp_path / "restart.db"
    proc = ServerProcess(db)
    try:
        await proc.start()
        client = await node_client(proc.url, expect=None, transports="websocket", token=None)
        await client.wait_event("proxy:status")

        async def write(i: int) -> None:
            url = f"{proc.url}/api/models/sdxl"
            async with http.patch(url, json={"description": f"rev {i}"}) as resp:
                assert resp.status == 200

        for i in range(3):
            await write(i)
        await client.until(lambda: len(client.events("models:updated")) == 3)
        await proc.signal(signal.SIGTERM)
        assert await proc.wait(10) == 0
        await client.wait_line(lambda line: "disconnected" in line, err=True)

        proc = ServerProcess(db, port=proc.port)
        await proc.start()
        for i in range(3, 6):  # most likely before the client is back: replayed
            await write(i)
        back = await client.wait_line(
            lambda line: " connected " in line and "lastSeq=" in line, err=True, timeout=15
        )
        for i in range(6, 9):
            await write(i)

        async with http.get(f"{proc.url}/api/events", params={"since": "0", "limit": "1000"}) as r:
            logged = [e["seq"] for e in await r.json() if e["event"] == "models:updated"]
        assert len(logged) == 9
        assert int(back.rsplit("lastSeq=", 1)[1]) >= logged[2]  # auth recomputed on reconnect
        await client.wait_event("models:updated", lambda d: d["seq"] == logged[-1])
        received = [d["seq"] for _, d in client.events("models:updated")]
        assert received == logged, client.transcript()  # each exactly once, in order
        client.signal(signal.SIGTERM)
        assert await client.wait() == 0
    finally:
        await proc.kill()
