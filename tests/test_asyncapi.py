"""GET /asyncapi.json: a valid AsyncAPI 3.0 document (checked by the AsyncAPI project's
own parser) that names every event the server sends and every request it handles."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from events.names import Event
from server.keys import HUB
from server.ollama.progress import COMPLETE, ERROR, PROGRESS
from server.realtime.asyncapi import documented_events
from tests.children import NODE, TOKEN, Child, require_npm_packages
from tests.conftest import Running
from tests.ollama_standin import OllamaStandin


async def test_the_document_is_behind_the_token(start_server) -> None:
    server: Running = await start_server(token=TOKEN)
    server.api.token = None
    status, _ = await server.api.get("/asyncapi.json")
    assert status == 401
    server.api.token = TOKEN
    status, document = await server.api.get("/asyncapi.json")
    assert status == 200 and document["asyncapi"] == "3.0.0"


@pytest.mark.skipif(NODE is None, reason="node is not installed (CI installs it)")
async def test_the_asyncapi_parser_accepts_the_document(server: Running, tmp_path: Path) -> None:
    require_npm_packages()
    _, document = await server.api.get("/asyncapi.json")
    path = tmp_path / "asyncapi.json"
    path.write_text(json.dumps(document))
    child = await Child.start(NODE or "node", "tests/asyncapi_check.mjs", str(path))
    code = await child.wait(60)
    assert code == 0, child.transcript()
    result = json.loads(child.out[-1])
    assert result["valid"] and result["version"] == "3.0.0", result["errors"]
    assert set(result["messages"]) >= {e.value for e in Event}
    assert result["operations"]["broadcast_models"] == "send"
    assert result["operations"]["request_saveModel"] == "receive"


async def test_every_request_the_server_handles_is_documented(server: Running) -> None:
    _, document = await server.api.get("/asyncapi.json")
    names = documented_events(document)
    handled = set(server.app[HUB].sio.handlers["/"]) - {"connect", "disconnect"}
    assert handled and handled <= names, handled - names
    assert {e.value for e in Event} | {PROGRESS, COMPLETE, ERROR} <= names


async def test_every_event_a_client_receives_is_documented(start_server, connect) -> None:
    async with OllamaStandin(bytes_per_second=6_400_000_000, lines_per_second=200) as ollama:
        server: Running = await start_server(ollama_url=ollama.url)
        full = await connect(server.url)
        delta = await connect(server.url, auth={"format": "delta"})
        reset = await connect(server.url, auth={"lastSeq": 999})
        for client in (full, delta):
            assert await client.call("pull:subscribe", {"model": "tinyllama"}) is None
        api = server.api
        await api.post("/api/providers", {"id": "p", "name": "P", "sdkId": "p"})
        await api.post("/api/credentials/qwen", {"token": "t"})
        await full.call("save_model", {"id": "s", "name": "S", "providerId": "p"})
        await delta.call("update_model", {"id": "s", "updates": {"description": "d"}})
        await full.call("save_config", {"id": "s", "type": "gpu", "config": {}})
        await delta.call("load_config", {"id": "s", "type": "gpu"})
        await full.call("delete_model", {"id": "s"})
        status, _ = await api.post("/api/ollama/pulls", {"model": "tinyllama"})
        assert status == 202
        for client in (full, delta):
            await client.next("pull:complete", timeout=15)
            await client.next("ollama:updated", timeout=15)
        await reset.next("events:reset")
        _, document = await api.get("/asyncapi.json")
    names = documented_events(document)
    received = {name for client in (full, delta, reset) for name, _ in client.events}
    assert {"model_saved", "pull:progress", "credentials:updated"} <= received
    assert received <= names, received - names
