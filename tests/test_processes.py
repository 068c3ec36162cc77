"""Several modeldeck servers on one database: every client sees every event, in order."""

from __future__ import annotations

import asyncio
import socket
from typing import Any

from events.wakeup import Wakeups, wakeup_dir
from server.keys import TAILER
from tests.clients import EventRecorder

SEQ_EVENTS = ("providers:updated", "models:updated", "credentials:updated", "proxy:status",
              "ollama:updated")  # fmt: skip


def seqs(client: EventRecorder) -> list[int]:
    """The seqs of the broadcasts a client received, greeting excluded, in arrival order."""
    found = [d["seq"] for name, d in client.events if name in SEQ_EVENTS]
    return found[1:]  # the first is the greeting proxy:status (carries the seq, no advance)


async def _patch(server: Any, i: int) -> None:
    status, body = await server.api.patch("/api/models/sdxl", {"description": f"rev {i}"})
    assert status == 200, body


async def test_writes_through_either_server_reach_clients_of_both_in_seq_order(
    start_server, connect
) -> None:
    a, b = await start_server(), await start_server()
    on_a, on_b = await connect(a.url), await connect(b.url)
    start = (await on_a.next("proxy:status"))["seq"]
    await on_b.next("proxy:status")
    # Interleaved and concurrent writes through both processes.
    for round_ in range(5):
        await asyncio.gather(*(_patch(a if i % 2 else b, round_ * 4 + i) for i in range(4)))
    last = start + 40  # each PATCH logs models:updated and proxy:status
    for client in (on_a, on_b):
        await client.until(lambda c=client: seqs(c)[-1:] == [last], timeout=10)
        assert seqs(client) == list(range(start + 1, last + 1))
    # Both processes say how far they have delivered.
    for server in (a, b):
        _, health = await server.api.get("/health")
        assert health["process"]["deliveredSeq"] == last
    supervising = [(await s.api.get("/health"))[1]["process"]["supervisesProxies"] for s in (a, b)]
    assert supervising == [True, False]  # a started first: a holds the lease


async def test_replay_on_one_server_of_events_committed_through_another(
    start_server, connect
) -> None:
    a, b = await start_server(), await start_server()
    first, watcher = await connect(b.url), await connect(b.url)
    start = (await first.next("proxy:status"))["seq"]
    await first.close()
    for i in range(3):
        await _patch(a, i)
    await watcher.wait_for("proxy:status", where=lambda d: d["seq"] == start + 6)
    again = await connect(b.url, auth={"lastSeq": start})
    await again.wait_for("proxy:status", 4)
    assert [d["seq"] for _, d in again.events[:6]] == list(range(start + 1, start + 7))


async def test_reads_on_one_server_see_writes_made_through_another(start_server, connect) -> None:
    a, b = await start_server(), await start_server()
    watcher = await connect(b.url)
    await watcher.next("proxy:status")
    status, before = await b.api.get("/v1/models/sdxl")  # cached by b from now on
    assert status == 200
    status, _ = await a.api.patch("/api/models/sdxl", {"description": "changed through a"})
    assert status == 200
    await watcher.next("models:updated")
    status, after = await b.api.get("/v1/models/sdxl")
    assert after["description"] == "changed through a" != before["description"]


async def test_metrics_name_the_process_and_its_delivered_seq(start_server) -> None:
    a = await start_server(process_name="left")
    _, text = await a.api.get("/metrics")
    assert 'modeldeck_process_info{id="' in text and 'name="left"' in text
    assert "modeldeck_events_delivered_seq " in text


async def test_a_commit_wakes_the_other_processes_instead_of_waiting_for_their_poll(
    start_server, connect
) -> None:
    a, b = await start_server(), await start_server()
    b.app[TAILER].interval = 30.0  # b's own looks at the log come too late for this test
    on_b = await connect(b.url, auth={"format": "delta"})
    await on_b.next("proxy:status")  # by now b's tailer waits out the long interval
    for i in range(3):
        await _patch(a, i)
        event = await on_b.next("models:updated", timeout=2)  # woken by a's commit
        assert event["changed"][0]["description"] == f"rev {i}"


async def test_a_wake_up_socket_nobody_reads_is_removed(tmp_path) -> None:
    """What a process killed with SIGKILL leaves behind goes with the next commit."""
    db = tmp_path / "w.db"
    stale = wakeup_dir(db) / "0-killed.sock"
    stale.parent.mkdir(mode=0o700, exist_ok=True)
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as gone:
        gone.bind(str(stale))  # bound, then closed: a socket file with no reader
    woken = asyncio.Event()
    live, sender = Wakeups(db), Wakeups(db)
    live.start(woken.set)
    sender.start(lambda: None)
    try:
        sender.notify()
        await asyncio.wait_for(woken.wait(), 2)
        assert not stale.exists() and live.path.exists()
    finally:
        live.close()
        sender.close()
    assert not wakeup_dir(db).exists()  # the last one out removes the directory
