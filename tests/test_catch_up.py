"""Reconnecting clients get exactly what they missed, in order, then live events."""

from __future__ import annotations

import asyncio

from tests.conftest import Running


def seqs(client, event: str | None = None) -> list[int]:
    return [d["seq"] for n, d in client.events if (event is None or n == event) and "seq" in d]


async def write(server: Running, i: int) -> None:
    status, _ = await server.api.patch("/api/models/sdxl", {"description": f"rev {i}"})
    assert status == 200


async def test_reconnect_gets_exactly_the_missed_events(server: Running, connect) -> None:
    first = await connect(server.url)
    await write(server, 0)
    await first.wait_for("proxy:status", where=lambda d: d["seq"] == 2)
    last_seq = max(seqs(first))
    await first.close()

    for i in range(1, 26):
        await write(server, i)
    again = await connect(server.url, auth={"lastSeq": last_seq})
    await again.wait_for("proxy:status", 26)  # 25 replayed + the greeting
    names = [n for n, _ in again.events]
    assert names[:50] == ["models:updated", "proxy:status"] * 25
    assert seqs(again)[:50] == list(range(last_seq + 1, last_seq + 51))
    descriptions = [
        next(m["description"] for m in d["items"] if m["id"] == "sdxl")
        for d in again.of("models:updated")
    ]
    assert descriptions == [f"rev {i}" for i in range(1, 26)]
    greeting = again.events[50]
    assert greeting[0] == "proxy:status" and greeting[1]["seq"] == last_seq + 50

    await write(server, 26)  # then live, with the next seq
    live = await again.next("models:updated", where=lambda d: d["seq"] > last_seq + 50)
    assert live["seq"] == last_seq + 51


async def test_current_seq_replays_nothing_and_no_last_seq_replays_nothing(
    server: Running, connect
) -> None:
    for i in range(3):
        await write(server, i)
    current = await connect(server.url, auth={"lastSeq": 6})
    fresh = await connect(server.url)
    for client in (current, fresh):
        greeting = await client.next("proxy:status")
        assert greeting["seq"] == 6
    await write(server, 3)
    for client in (current, fresh):
        await client.next("models:updated")
        assert [n for n, _ in client.events] == ["proxy:status", "models:updated"]


async def test_too_old_gets_events_reset(start_server, connect) -> None:
    server: Running = await start_server(event_retention=5)
    for i in range(10):
        await write(server, i)
    client = await connect(server.url, auth={"lastSeq": 3})
    reset = await client.next("events:reset")
    assert reset == {"oldestSeq": 16, "currentSeq": 20}
    assert client.events[0][0] == "events:reset"
    assert (await client.next("proxy:status"))["seq"] == 20
    ahead = await connect(server.url, auth={"lastSeq": 999})  # e.g. the database was replaced
    assert (await ahead.next("events:reset"))["currentSeq"] == 20


async def test_replay_follows_the_clients_topics(server: Running, connect) -> None:
    await write(server, 0)
    await server.api.post("/api/providers", {"name": "P", "sdkId": "p"})
    client = await connect(server.url, auth={"lastSeq": 0})
    await client.wait_for("proxy:status", 3)
    assert [n for n, _ in client.events] == [
        "models:updated", "proxy:status", "providers:updated", "proxy:status", "proxy:status",
    ]  # fmt: skip


async def test_reconnects_during_continuous_writes_lose_nothing(server: Running, connect) -> None:
    stop = asyncio.Event()

    async def writer() -> int:
        count = 0
        while not stop.is_set():
            await write(server, count)
            count += 1
        return count

    task = asyncio.create_task(writer())
    received: list[int] = []
    last_seq: int | None = None
    for _ in range(4):
        auth = {"lastSeq": last_seq} if last_seq is not None else None
        client = await connect(server.url, auth=auth)
        await client.wait_for("models:updated", 5, timeout=10)
        await client.close()
        received += seqs(client, "models:updated")
        last_seq = max(seqs(client))
    stop.set()
    await task
    first = received[0]
    _, logged = await server.api.get(f"/api/events?since={first - 1}&limit=1000")
    expected = [e["seq"] for e in logged if e["event"] == "models:updated" and e["seq"] <= last_seq]
    assert received == expected  # every one exactly once, in order, across 3 reconnects


async def test_events_over_rest(server: Running) -> None:
    for i in range(3):
        await write(server, i)
    status, page = await server.api.get("/api/events?since=0&limit=4")
    assert status == 200
    assert [e["seq"] for e in page] == [1, 2, 3, 4]
    assert page[0]["event"] == "models:updated" and page[0]["data"]["seq"] == 1
    _, rest = await server.api.get("/api/events?since=4")
    assert [e["seq"] for e in rest] == [5, 6]
    status, error = await server.api.get("/api/events?since=-1")
    assert status == 422 and error["error"]["message"].startswith("since")
