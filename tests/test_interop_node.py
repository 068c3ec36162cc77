"""Interop: socket.io-client 4 from npm, through ``test_clients/node_client.js``.

The Node client is driven exactly as CI drives it: started with ``--expect`` (what it
must receive), it exits 0 once everything arrived. The test waits for it to be
connected (its first JSON line, the ``proxy:status`` greeting), makes the writes, and
then waits for the exit code; every wait has a timeout, none is a sleep. Both transport
set-ups are covered: websocket only, and the library's default long-polling first,
then upgrade.
"""

from __future__ import annotations

import json
import os
import signal
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from tests.children import NODE, TOKEN, Child, needs_tool, require_npm_packages
from tests.conftest import Running
from tests.delta_contract import DeltaView, get_state, mixed_writes
from tests.ollama_standin import OllamaStandin
from tests.processes import ServerProcess

TRANSPORTS = {"websocket": "websocket", "polling-then-upgrade": "polling,websocket"}
needs_node = needs_tool(NODE is None, "node is not installed (CI installs it)")
pytestmark = needs_node


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


@both_transports
async def test_delta_greeting_plus_changes_equals_get_under_concurrent_writes(
    start_server, node_client, transports: str
) -> None:
    """The delta contract through socket.io-client: greeting + deltas in seq order == GET."""
    server: Running = await start_server()
    early = await node_client(server.url, expect=None, transports=transports, token=None)
    full = await node_client(
        server.url, expect=None, transports=transports, token=None, extra=("--format", "full")
    )
    await early.wait_event("proxy:status")
    await full.wait_event("proxy:status")
    late: list[Child] = []

    async def joiner() -> None:
        late.append(await node_client(server.url, expect=None, transports=transports, token=None))
        await late[-1].wait_event("proxy:status")

    final_seq = await mixed_writes(server.api, during=joiner)
    providers, models = await get_state(server.api)
    for client in (early, *late):
        await client.wait_event("proxy:status", lambda d: d["seq"] == final_seq)
        view = DeltaView.of(client.events())
        assert (view.seq, view.providers, view.models) == (final_seq, providers, models)
    last = await full.wait_event("models:updated", lambda d: d["modelId"] == "last")
    assert {m["id"]: m for m in last["items"]} == models  # the full format is unchanged
