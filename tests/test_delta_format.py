"""The delta format: greeting snapshot + every later delta, applied in seq order, is the
registry as GET shows it; what the log stores; unknown formats refused; replay order."""

from __future__ import annotations

import asyncio
import json
import sqlite3

import pytest
import socketio

from tests.clients import EventRecorder
from tests.conftest import Running
from tests.delta_contract import DeltaView, get_state, mixed_writes

DELTA = {"format": "delta"}


async def test_greeting_carries_the_lists_and_the_seq_in_both_formats(
    server: Running, connect
) -> None:
    await server.api.patch("/api/models/sdxl", {"description": "before"})
    delta = await connect(server.url, auth=DELTA)
    full = await connect(server.url)
    providers, models = await get_state(server.api)
    for client in (delta, full):
        greeting = await client.next("proxy:status")
        assert greeting["seq"] == 2
        assert {p["id"]: p for p in greeting["providers"]["items"]} == providers
        assert {m["id"]: m for m in greeting["models"]["items"]} == models
        assert greeting["models"]["total"] == 7 and greeting["providers"]["enabled"] == 3


async def test_a_delta_client_receives_what_changed_only(server: Running, connect) -> None:
    client = await connect(server.url, auth=DELTA)
    await client.next("proxy:status")
    status, model = await server.api.patch("/api/models/sdxl", {"description": "fast"})
    assert status == 200
    event = await client.next("models:updated")
    assert event["action"] == "updated" and event["modelId"] == "sdxl"
    assert event["changed"] == [model] and event["deleted"] == [] and event["total"] == 7
    assert "items" not in event
    status_event = await client.next("proxy:status")
    assert status_event["models"] == {"total": 7}
    assert status_event["providers"] == {"total": 3, "enabled": 3}
    assert status_event["seq"] == event["seq"] + 1

    _, previous = await server.api.get("/api/models/gemini-1.5-flash")
    assert previous["isDefault"] is True
    await server.api.post("/api/models/gemini-1.5-pro/set-default")
    default = await client.next("models:updated")
    assert default["action"] == "default"
    assert [m["id"] for m in default["changed"]] == ["gemini-1.5-pro", "gemini-1.5-flash"]
    assert [m["isDefault"] for m in default["changed"]] == [True, False]

    _, google = await server.api.get("/api/models?providerId=google")
    status, _ = await server.api.delete("/api/providers/google?cascade=true")
    assert status in (200, 204)
    provider_event = await client.next("providers:updated")
    assert provider_event["deleted"] == ["google"] and provider_event["changed"] == []
    cascade = await client.next("models:updated")
    assert cascade["action"] == "deleted"
    assert sorted(cascade["deleted"]) == sorted(m["id"] for m in google)


async def test_the_event_log_stores_deltas(server: Running) -> None:
    for i in range(5):
        await server.api.patch("/api/models/sdxl", {"description": f"rev {i}"})
    _, logged = await server.api.get("/api/events?since=0")
    assert [e["event"] for e in logged] == ["models:updated", "proxy:status"] * 5
    for entry in logged:
        assert "items" not in entry["data"] and "items" not in entry["data"].get("models", {})
    assert [e["data"]["changed"][0]["description"] for e in logged[::2]] == [
        f"rev {i}" for i in range(5)
    ]


async def test_an_unknown_format_is_refused_with_a_clear_message(server: Running) -> None:
    client = EventRecorder()
    with pytest.raises(socketio.exceptions.ConnectionError):
        await client.connect(server.url, auth={"format": "compact"})
    message = client.connect_errors[0]["message"]
    assert message.startswith("format: unknown event format 'compact'")
    assert "'full'" in message and "'delta'" in message
    await client.close()


async def test_greeting_plus_deltas_equals_get_under_concurrent_writes(
    server: Running, connect
) -> None:
    early = await connect(server.url, auth=DELTA)
    await early.next("proxy:status")
    late: list[EventRecorder] = []

    async def joiner() -> None:
        for _ in range(3):
            await asyncio.sleep(0)
            late.append(await connect(server.url, auth=DELTA))
            await late[-1].next("proxy:status")

    final_seq = await mixed_writes(server.api, during=joiner)
    providers, models = await get_state(server.api)
    assert any(m["isDefault"] for m in models.values() if m["id"].startswith("w"))
    for client in (early, *late):
        await client.wait_for("proxy:status", where=lambda d: d["seq"] == final_seq, timeout=10)
        view = DeltaView.of(client.events)
        assert view.seq == final_seq
        assert view.providers == providers
        assert view.models == models


async def test_replay_in_both_formats_then_greeting_then_live(server: Running, connect) -> None:
    first = await connect(server.url, auth=DELTA)
    last_seq = (await first.next("proxy:status"))["seq"]
    await first.close()
    for i in range(3):
        await server.api.patch("/api/models/sdxl", {"description": f"rev {i}"})
    delta = await connect(server.url, auth={**DELTA, "lastSeq": last_seq})
    full = await connect(server.url, auth={"lastSeq": last_seq})
    for client in (delta, full):
        await client.wait_for("proxy:status", 4)  # 3 replayed + the greeting
        names = [n for n, _ in client.events]
        assert names == ["models:updated", "proxy:status"] * 3 + ["proxy:status"]
        assert [d["seq"] for _, d in client.events] == [1, 2, 3, 4, 5, 6, 6]
        assert "items" in client.events[-1][1]["models"]  # the greeting lists everything
    changes = [d["changed"][0]["description"] for d in delta.of("models:updated")]
    assert changes == ["rev 0", "rev 1", "rev 2"]
    replayed = [  # full items show the registry as it was at each event
        next(m for m in d["items"] if m["id"] == "sdxl")["description"]
        for d in full.of("models:updated")
    ]
    assert replayed == ["rev 0", "rev 1", "rev 2"]
    assert all("items" not in d["models"] for d in delta.of("proxy:status")[:3])

    await server.api.patch("/api/models/sdxl", {"description": "live"})
    live_delta = await delta.next("models:updated", where=lambda d: d["seq"] == 7)
    live_full = await full.next("models:updated", where=lambda d: d["seq"] == 7)
    assert live_delta["changed"][0]["description"] == "live"
    assert next(m for m in live_full["items"] if m["id"] == "sdxl")["description"] == "live"


async def test_subscribe_acts_on_the_clients_format(server: Running, connect) -> None:
    client = await connect(server.url, auth=DELTA)
    await client.next("proxy:status")
    assert await client.call("unsubscribe", {"topics": ["models"]}) == [
        "providers", "credentials", "proxy", "ollama",
    ]  # fmt: skip
    await server.api.patch("/api/models/sdxl", {"description": "quiet"})
    await server.api.post("/api/providers", {"name": "P", "sdkId": "p"})
    event = await client.next("providers:updated")
    assert event["changed"][0]["id"] == "p"
    assert client.of("models:updated") == []
    assert "models" in await client.call("subscribe", {"topics": ["models"]})
    await server.api.patch("/api/models/sdxl", {"description": "loud"})
    assert (await client.next("models:updated"))["changed"][0]["description"] == "loud"


async def test_old_full_payload_events_are_dropped_and_old_clients_reset(
    start_server, connect, db_path
) -> None:
    server: Running = await start_server()
    for i in range(3):
        await server.api.patch("/api/models/sdxl", {"description": f"rev {i}"})
    await server.stop()
    # The database as the previous release left it: full lists in the log, schema 3.
    with sqlite3.connect(db_path) as conn:
        conn.execute("DELETE FROM events")
        conn.execute(
            "INSERT INTO events (event, topic, data, created_at) VALUES (?, ?, ?, ?)",
            ("models:updated", "models", json.dumps({"items": [{"id": "x"}] * 100}), "now"),
        )
        conn.execute("ALTER TABLE events DROP COLUMN prior")
        # ... and without what later migrations (0005, 0006: several processes) added.
        conn.execute("ALTER TABLE pull_jobs DROP COLUMN cancel_requested")
        for table in ("instances", "leases", "proxy_wishes", "proxy_snapshot"):
            conn.execute(f"DROP TABLE {table}")
        conn.execute("DROP INDEX pull_jobs_by_status")
        conn.execute("ALTER TABLE pull_jobs DROP COLUMN owner")
        conn.execute("PRAGMA user_version = 3")
    again: Running = await start_server()
    _, logged = await again.api.get("/api/events?since=0")
    assert logged == []
    client = await connect(again.url, auth={"lastSeq": 2, "format": "delta"})
    assert await client.next("events:reset") == {"oldestSeq": None, "currentSeq": 7}
    greeting = await client.next("proxy:status")
    assert greeting["seq"] == 7 and greeting["models"]["total"] == 7
    await again.api.patch("/api/models/sdxl", {"description": "after"})
    assert (await client.next("models:updated"))["seq"] == 8


async def test_a_full_replay_shows_each_event_as_it_was_broadcast(server: Running, connect) -> None:
    """Replayed full-format events equal the live ones, under creates, set-defaults,
    deletes and a cascading delete: the log's prior objects rebuild each state."""
    live = await connect(server.url)
    start = (await live.next("proxy:status"))["seq"]

    async def nothing() -> None:
        return None

    final_seq = await mixed_writes(server.api, writers=2, each=10, during=nothing)
    await live.wait_for("proxy:status", where=lambda d: d["seq"] == final_seq, timeout=10)
    replay = await connect(server.url, auth={"lastSeq": start})
    # The last replayed event and the greeting both carry the final seq.
    await replay.wait_for("proxy:status", 2, where=lambda d: d["seq"] == final_seq, timeout=10)
    greeting = replay.events[-1][1]
    assert "items" in greeting["models"] and greeting["seq"] == final_seq
    broadcast = [(n, d) for n, d in live.events if d.get("seq", 0) > start]
    replayed = replay.events[:-1]
    assert [d["seq"] for _, d in replayed] == list(range(start + 1, final_seq + 1))
    assert replayed == broadcast


async def test_proxy_status_over_rest_shows_the_write_just_made(server: Running) -> None:
    for i in range(5):
        assert (await server.api.post("/api/models", {"id": f"r{i}", "name": f"R {i}"}))[0] == 201
        status, body = await server.api.get("/api/proxy/status")
        assert status == 200 and body["models"]["total"] == 8 + i
        assert body["models"]["items"][-1]["id"] == f"r{i}"


async def test_the_server_default_format_applies_to_clients_that_name_none(
    start_server, connect
) -> None:
    server = await start_server(event_format="delta")
    plain = await connect(server.url)
    full = await connect(server.url, auth={"format": "full"})
    for client in (plain, full):
        await client.next("proxy:status")
    await server.api.patch("/api/models/sdxl", {"description": "default format"})
    delta_event = await plain.next("models:updated")
    full_event = await full.next("models:updated")
    assert "items" not in delta_event and delta_event["changed"][0]["id"] == "sdxl"
    assert "changed" not in full_event and len(full_event["items"]) == 7
