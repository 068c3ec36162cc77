"""A graceful restart as dashboards see it: SIGTERM, then a new process on the same port
and database.

Every client here runs its library with the defaults — socket.io-client in Node and in
Chromium, python-socketio's ``AsyncClient`` — and one option, ``auth`` as a callback that
sends the highest ``seq`` seen, as the README shows. None has reconnect code of its own:
after the restart each must come back by itself and hold every logged event exactly
once, in ``seq`` order: those before the restart, those written while it was away
(replayed), and those after (live). Long-polling-only variants cover the other
transport's shutdown path.
"""

from __future__ import annotations

import asyncio
import signal
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any, Protocol

import aiohttp
import pytest
import socketio

from tests.browser import LIBRARY, Browser, needs_browser
from tests.children import NODE, ROOT, Child, require_npm_packages
from tests.processes import ServerProcess

WRITES = 3  # per phase: before the restart, while clients are away, after they are back


class Client(Protocol):
    """What the test needs of any client: its models:updated seqs and its connects."""

    async def seqs(self) -> list[int]: ...
    async def connects(self) -> int: ...


class NodeClient:
    def __init__(self, child: Child) -> None:
        self.child = child

    async def seqs(self) -> list[int]:
        return [d["seq"] for _, d in self.child.events("models:updated")]

    async def connects(self) -> int:
        return sum(line.startswith("connect ") for line in self.child.err)

    def disconnect_reasons(self) -> list[str]:
        return [line.split(" ", 1)[1] for line in self.child.err if line.startswith("disconnect")]


class PythonClient:
    """python-socketio's AsyncClient, reconnection on (its default)."""

    def __init__(self) -> None:
        self.sio = socketio.AsyncClient()
        self.received: list[int] = []
        self.last_seq: int | None = None
        self.connected = 0
        self.sio.on("connect", self._on_connect)
        self.sio.on("*", self._on_event)

    async def _on_connect(self) -> None:
        self.connected += 1

    async def _on_event(self, event: str, data: Any = None) -> None:
        seq = data.get("seq") if isinstance(data, dict) else None
        if isinstance(seq, int):
            self.last_seq = max(self.last_seq or 0, seq)
            if event == "models:updated":
                self.received.append(seq)

    def auth(self) -> dict[str, int]:
        return {} if self.last_seq is None else {"lastSeq": self.last_seq}

    async def seqs(self) -> list[int]:
        return list(self.received)

    async def connects(self) -> int:
        return self.connected


class BrowserClient:
    """socket.io-client's browser build in a same-origin Chromium page."""

    SCRIPT = """(() => {
      window.received = []; window.connects = 0; let lastSeq;
      const socket = io(location.origin, {
        auth: (cb) => cb(lastSeq === undefined ? {} : { lastSeq }),
      });
      socket.on('connect', () => { window.connects += 1; });
      socket.onAny((event, data) => {
        if (typeof data?.seq !== 'number') return;
        lastSeq = Math.max(lastSeq ?? 0, data.seq);
        if (event === 'models:updated') window.received.push(data.seq);
      });
      return true;
    })()"""

    def __init__(self, chromium: Browser) -> None:
        self.chromium = chromium

    async def start(self, url: str) -> None:
        await self.chromium.do("open", url=url + "/health")  # any page of that origin
        await self.chromium.do("script", path=str(LIBRARY))
        await self.chromium.do("eval", js=self.SCRIPT)

    async def seqs(self) -> list[int]:
        return list((await self.chromium.do("eval", js="window.received"))["value"])

    async def connects(self) -> int:
        return int((await self.chromium.do("eval", js="window.connects"))["value"])


async def until(check: Callable[[], Awaitable[bool]], what: str, timeout: float = 20) -> None:
    """Re-check ``check`` (client state in other processes: no event to await here)."""
    try:
        async with asyncio.timeout(timeout):
            while not await check():  # noqa: ASYNC110 - polled, bounded by the timeout
                await asyncio.sleep(0.05)
    except TimeoutError:
        raise AssertionError(f"not within {timeout}s: {what}") from None


@pytest.fixture
async def restartable() -> AsyncIterator[list[ServerProcess]]:
    """Server processes (killed after the test if still running)."""
    started: list[ServerProcess] = []
    yield started
    for proc in started:
        await proc.kill()


async def restart_and_check(
    clients: dict[str, Client],
    procs: list[ServerProcess],
    db: Path,
    http: aiohttp.ClientSession,
) -> None:
    """The scenario: writes, SIGTERM, writes while away, reconnects, writes; then compare."""
    proc = procs[0]
    written = 0

    async def write() -> None:
        nonlocal written
        url = f"{procs[-1].url}/api/models/sdxl"
        async with http.patch(url, json={"description": f"rev {written}"}) as resp:
            assert resp.status == 200, await resp.text()
        written += 1

    for _ in range(WRITES):
        await write()
    for name, client in clients.items():
        await until(lambda c=client: _has(c, WRITES), f"{name}: the first writes")

    await proc.signal(signal.SIGTERM)
    assert await proc.wait(10) == 0

    again = ServerProcess(db, port=proc.port)
    procs.append(again)
    await again.start()
    for _ in range(WRITES):  # most likely before the clients are back: replayed
        await write()
    for name, client in clients.items():
        await until(lambda c=client: _connected_twice(c), f"{name}: reconnected by itself")
    for _ in range(WRITES):  # live
        await write()

    async with http.get(f"{again.url}/api/events", params={"since": "0", "limit": "1000"}) as r:
        logged = [e["seq"] for e in await r.json() if e["event"] == "models:updated"]
    assert len(logged) == 3 * WRITES
    for name, client in clients.items():
        await until(lambda c=client: _has(c, len(logged)), f"{name}: every event")
        assert await client.seqs() == logged, name  # each exactly once, in order


async def _has(client: Client, count: int) -> bool:
    return len(await client.seqs()) >= count


async def _connected_twice(client: Client) -> bool:
    return await client.connects() >= 2


@pytest.mark.skipif(NODE is None, reason="node is not installed (CI installs it)")
async def test_node_and_python_clients_reconnect_by_themselves_after_sigterm(
    tmp_path: Path, http: aiohttp.ClientSession, restartable: list[ServerProcess]
) -> None:
    require_npm_packages()
    db = tmp_path / "restart.db"
    proc = ServerProcess(db)
    restartable.append(proc)
    await proc.start()

    script = str(ROOT / "tests" / "plain_socketio_client.mjs")
    children: list[Child] = []
    python_clients: list[PythonClient] = []
    try:
        clients: dict[str, Client] = {}
        for name, transports in (("node-default", ()), ("node-polling", ("polling",))):
            child = await Child.start(NODE or "node", script, proc.url, *transports)
            children.append(child)
            await child.wait_line(lambda line: line.startswith("connect "), err=True)
            clients[name] = NodeClient(child)
        for name, transports in (("python-default", None), ("python-polling", ["polling"])):
            client = PythonClient()
            python_clients.append(client)
            await client.sio.connect(proc.url, auth=client.auth, transports=transports)
            clients[name] = client

        await restart_and_check(clients, restartable, db, http)

        for child in children:  # a transport close, never "io server disconnect"
            reasons = NodeClient(child).disconnect_reasons()
            assert reasons and "io server disconnect" not in reasons, child.transcript()
    finally:
        for client in python_clients:
            await client.sio.disconnect()
        for child in children:
            await child.close()


@needs_browser
async def test_a_browser_reconnects_by_itself_after_sigterm(
    tmp_path: Path,
    http: aiohttp.ClientSession,
    restartable: list[ServerProcess],
    browser: Browser,
) -> None:
    db = tmp_path / "restart.db"
    proc = ServerProcess(db)
    restartable.append(proc)
    await proc.start()
    page = BrowserClient(browser)
    await page.start(proc.url)
    await browser.do("until", js="window.connects === 1")

    await restart_and_check({"chromium": page}, restartable, db, http)
