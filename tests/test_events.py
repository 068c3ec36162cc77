"""Committed writes reach every subscribed client, in commit order, with seq +1."""

from __future__ import annotations

import asyncio
import logging

import pytest

from server.keys import BUS
from tests.conftest import Running

PROVIDER = {"name": "OpenAI", "sdkId": "openai", "apiKey": "sk-live-abcdef987654"}


async def test_new_client_gets_proxy_status_at_once(server: Running, connect) -> None:
    client = await connect(server.url)
    status = await client.next("proxy:status")
    assert status["status"] == "stopped"
    assert status["providers"]["total"] == 3  # the seed's Google, StabilityAI, Flux
    assert status["models"]["total"] == 7
    assert status["credentials"] == {
        "valid": False, "expiresAt": None, "hasCredentials": False, "isExpired": False,
    }  # fmt: skip
    assert status["seq"] == 0  # carries the current seq without advancing it
    assert status["timestamp"].endswith("Z")


async def test_both_clients_receive_each_write(server: Running, connect) -> None:
    alice, bob = await connect(server.url), await connect(server.url)
    status, created = await server.api.post("/api/providers", PROVIDER)
    assert status == 201
    for client in (alice, bob):
        event = await client.next("providers:updated")
        assert event["action"] == "created"
        assert event["providerId"] == created["id"] == "openai"
        assert event["total"] == 4 and event["enabled"] == 4
        assert "openai" in [p["id"] for p in event["items"]]
        refreshed = await client.next("proxy:status", where=lambda s: s["seq"] > 0)
        assert refreshed["providers"]["total"] == 4
        assert refreshed["seq"] == event["seq"] + 1


async def test_each_write_has_its_action(server: Running, connect) -> None:
    client = await connect(server.url)
    api = server.api
    steps = [
        (api.post("/api/providers", PROVIDER), "providers:updated", "created"),
        (
            api.put("/api/providers/openai", {"baseUrl": "http://x.test/v1"}),
            "providers:updated",
            "updated",
        ),
        (api.post("/api/providers/openai/disable"), "providers:updated", "disabled"),
        (api.post("/api/providers/openai/enable"), "providers:updated", "enabled"),
        (api.post("/api/providers/openai/reload"), "providers:updated", "reloaded"),
        (
            api.post("/api/models", {"name": "GPT 4o", "providerId": "openai"}),
            "models:updated",
            "created",
        ),
        (api.patch("/api/models/gpt-4o", {"description": "fast"}), "models:updated", "updated"),
        (api.post("/api/models/gpt-4o/set-default"), "models:updated", "default"),
        (api.post("/api/models/gpt-4o/start"), "models:updated", "started"),
        (api.post("/api/models/gpt-4o/stop"), "models:updated", "stopped"),
        (
            api.put("/api/models/gpt-4o/config/sampling", {"temperature": 0.2}),
            "models:updated",
            "config",
        ),
        (api.delete("/api/models/gpt-4o"), "models:updated", "deleted"),
        (
            api.post("/api/qwen/credentials", {"token": "t0k", "expiresAt": 4102444800}),
            "credentials:updated",
            "updated",
        ),
        (api.delete("/api/qwen/credentials"), "credentials:updated", "deleted"),
        (api.delete("/api/providers/openai"), "providers:updated", "deleted"),
    ]
    for request, event, action in steps:
        status, body = await request
        assert status in (200, 201), body
        received = await client.next(event)
        assert received["action"] == action


async def test_failed_write_reaches_no_one(server: Running, connect) -> None:
    client = await connect(server.url)
    await client.wait_for("proxy:status")
    failures = [
        await server.api.post("/api/providers", {"name": "No SDK"}),
        await server.api.post("/api/models", {"name": "x", "type": "video"}),
        await server.api.post("/api/models", {"name": "x", "providerId": "nope"}),
        await server.api.delete("/api/providers/google"),  # has models, no cascade
        await server.api.post("/api/models/sdxl/stop"),  # already stopped
        await server.api.patch("/api/models/missing", {"name": "y"}),
    ]
    assert [status for status, _ in failures] == [422, 422, 404, 409, 409, 404]
    # A write that succeeds afterwards is the first event anyone sees: events are in
    # commit order, so an event from any failed write would have arrived before it.
    await server.api.post("/api/providers", PROVIDER)
    first = await client.next("providers:updated")
    assert first["action"] == "created" and first["seq"] == 1
    assert [name for name, _ in client.events if name != "proxy:status"] == ["providers:updated"]


async def test_seq_is_plus_one_across_fifty_concurrent_writes(server: Running, connect) -> None:
    client = await connect(server.url)
    await client.wait_for("proxy:status")
    writes = [
        server.api.post("/api/models", {"id": f"m{i}", "name": f"Model {i}"}) for i in range(50)
    ]
    results = await asyncio.gather(*writes)
    assert all(status == 201 for status, _ in results)
    created = await client.wait_for("models:updated", 50, timeout=10)
    await client.wait_for("proxy:status", 51, timeout=10)
    seqs = [data["seq"] for name, data in client.events if "seq" in data and data["seq"] > 0]
    assert seqs == list(range(1, 101))  # one models:updated + one proxy:status per write
    # Commit order: each event's items hold exactly the models committed so far.
    totals = [event["total"] for event in created]
    assert totals == list(range(8, 58))
    assert sorted(event["modelId"] for event in created) == sorted(f"m{i}" for i in range(50))


async def test_unsubscribe_stops_that_topic_only(server: Running, connect) -> None:
    client = await connect(server.url)
    remaining = await client.call("unsubscribe", {"topics": ["models"]})
    assert remaining == ["providers", "credentials", "proxy", "ollama"]
    await server.api.post("/api/models", {"name": "Quiet"})
    await server.api.post("/api/providers", PROVIDER)
    await client.next("providers:updated")
    assert client.of("models:updated") == []
    assert await client.call("subscribe", {"topics": ["models"]}) == [
        "providers", "models", "credentials", "proxy", "ollama",
    ]  # fmt: skip
    await server.api.patch("/api/models/quiet", {"name": "Loud"})
    assert (await client.next("models:updated"))["modelId"] == "quiet"


async def test_subscribe_rejects_unknown_topics(server: Running, connect) -> None:
    client = await connect(server.url)
    reply = await client.call("subscribe", {"topics": ["models", "weather"]})
    assert reply["error"]["code"] == "validation_error"
    assert "weather" in reply["error"]["message"]
    reply = await client.call("subscribe", "models")
    assert "topics" in reply["error"]["message"]


async def test_api_key_never_leaves_the_server(server: Running, connect) -> None:
    client = await connect(server.url)
    secret = PROVIDER["apiKey"]
    responses = [
        await server.api.post("/api/providers", PROVIDER),
        await server.api.get("/api/providers"),
        await server.api.get("/api/providers/openai"),
        await server.api.patch("/api/providers/openai", {"apiKey": "sk-other-key-5555"}),
        await server.api.get("/api/model-registry"),
        await server.api.get("/api/proxy/status"),
        await server.api.post("/api/credentials/qwen", {"token": "qwen-secret-token"}),
    ]
    await client.wait_for("credentials:updated")
    text = repr(responses) + repr(client.events)
    for leaked in (secret, "sk-other-key-5555", "qwen-secret-token"):
        assert leaked not in text
    assert responses[0][1]["hasApiKey"] is True
    assert responses[0][1]["apiKeyHint"] == "sk-…7654"
    assert responses[3][1]["apiKeyHint"] == "sk-…5555"
    # Every file of the database: fresh rows sit in the -wal until a checkpoint.
    db = server.settings.db
    files = [db, db.with_name(db.name + "-wal"), db.with_name(db.name + "-shm")]
    for file in files:
        raw = file.read_bytes()
        for leaked in (secret, "sk-other-key-5555", "qwen-secret-token"):
            assert leaked.encode() not in raw, f"{leaked} stored in clear in {file.name}"


async def test_clients_arriving_during_writes_leave_every_broadcast_counted(
    server: Running, connect, caplog: pytest.LogCaptureFixture
) -> None:
    """Greetings to arriving clients go out while the bus broadcasts; each broadcast is
    still counted on its own (on the stock path they were once mixed into the bus's
    batch, which then logged "broadcast failed" with a traceback)."""
    watcher = await connect(server.url)

    async def writes() -> None:
        for n in range(20):
            body = {"name": f"P{n}", "sdkId": f"p{n}", "baseUrl": "http://127.0.0.1:9"}
            status, _ = await server.api.post("/api/providers", body)
            assert status == 201

    async def arrivals() -> None:
        for _ in range(20):
            await connect(server.url)

    with caplog.at_level(logging.INFO, logger="events.bus"):
        await asyncio.gather(writes(), arrivals())
        await watcher.wait_for("providers:updated", 20, timeout=10)
        await server.app[BUS].settled(timeout=5)
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR] == []
    counted = [r for r in caplog.records if r.getMessage().startswith("broadcast providers:")]
    assert len(counted) == 20
