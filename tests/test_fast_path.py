"""The fast path, its start-up check and the stock fallback, as a user runs them.

Every send goes through python-socketio's client manager either way; the fast path
adds pre-framed writes and the hardened transport when the installed engine.io and
python-socketio pass the check, and the server falls back (and says why) when not.
The delivery tests run once more with ``MODELDECK_FAST_PATH=0`` (scripts/test).
"""

from __future__ import annotations

import logging
import re
import sys
from importlib import metadata
from pathlib import Path
from typing import Any

import aiohttp
import engineio.async_drivers.aiohttp
import engineio.async_socket
import pytest
from engineio.async_drivers.aiohttp import WebSocket as StockWebSocket

from server.keys import HUB
from server.realtime import engine
from server.realtime.fanout import BroadcastManager
from tests.conftest import Running
from tests.processes import ServerProcess

CONSTRAINTS = Path(__file__).resolve().parent.parent / "constraints.txt"


def pinned() -> dict[str, str]:
    """``constraints.txt`` as {package: "major.minor"}."""
    pins = {}
    for line in CONSTRAINTS.read_text().splitlines():
        found = re.fullmatch(r"([\w-]+)==(\d+\.\d+)\.\*", line.strip())
        if found:
            pins[found[1]] = found[2]
    return pins


def test_the_installed_versions_are_the_pinned_ones() -> None:
    pins = pinned()
    assert set(pins) == {"python-socketio", "python-engineio"}
    for package, minor in pins.items():
        assert metadata.version(package).startswith(minor + "."), package


@pytest.mark.fast_path_only
async def test_the_pinned_versions_pass_the_check_and_run_the_fast_path(
    server: Running, connect
) -> None:
    hub = server.app[HUB]
    assert engine.check(hub.sio) == []
    assert hub.fast_path and isinstance(hub.sio.manager, BroadcastManager)
    client = await connect(server.url)
    await client.wait_for("proxy:status")
    assert (await server.api.patch("/api/models/sdxl", {"description": "fast"}))[0] == 200
    (update,) = await client.wait_for("models:updated")
    assert update["modelId"] == "sdxl"
    assert hub.fanout.stats.deliveries >= 1


async def _delivers_and_replays(server: Running, connect) -> None:
    """A client gets its greeting and each write; reconnecting with ``lastSeq``: the
    events it missed, then the greeting, then live events, no gap, no duplicate."""
    first = await connect(server.url)
    greeting = (await first.wait_for("proxy:status"))[0]
    await server.api.patch("/api/models/sdxl", {"description": "one"})
    (seen,) = await first.wait_for("models:updated")
    await first.close()
    for text in ("two", "three"):
        await server.api.patch("/api/models/sdxl", {"description": text})
    again = await connect(server.url, auth={"lastSeq": seen["seq"]})
    await again.wait_for("proxy:status", 4)  # three missed (one per write), the greeting
    await server.api.patch("/api/models/sdxl", {"description": "four"})
    await again.wait_for("proxy:status", 5)
    # Each write logs models:updated then proxy:status; the greeting repeats the seq
    # of the last event it reflects.
    s = seen["seq"]
    assert [data["seq"] for _, data in again.events] == [*range(s + 1, s + 6), s + 5, s + 6, s + 7]
    assert [name for name, _ in again.events][5] == "proxy:status"
    assert greeting["seq"] < seen["seq"]


async def test_forced_off_every_send_uses_stock_delivery(start_server, connect) -> None:
    server: Running = await start_server(fast_path=False)
    hub = server.app[HUB]
    assert not hub.fast_path and isinstance(hub.sio.manager, BroadcastManager)
    assert hub.sio.eio._async["websocket"] is StockWebSocket  # engine.io's own transport
    await _delivers_and_replays(server, connect)
    assert hub.fanout.stats.deliveries >= 1


@pytest.mark.fast_path_only
async def test_internals_that_changed_turn_the_fast_path_off_and_say_why(
    start_server, connect, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """As if a new engine.io renamed a parameter the fast path passes by name."""
    stock_receive = engineio.async_socket.AsyncSocket.receive

    async def receive(self: Any, packet: Any) -> Any:
        return await stock_receive(self, packet)

    monkeypatch.setattr(engineio.async_socket.AsyncSocket, "receive", receive)
    with caplog.at_level(logging.WARNING, logger="modeldeck.socket"):
        server: Running = await start_server()
    hub = server.app[HUB]
    assert not hub.fast_path
    assert "fast path off" in caplog.text and "AsyncSocket.receive lacks parameter(s) pkt" in (
        caplog.text
    )
    await _delivers_and_replays(server, connect)


@pytest.mark.fast_path_only
async def test_a_renamed_engineio_class_turns_the_fast_path_off_instead_of_failing(
    start_server, connect, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """The fast path's transport subclasses engine.io's websocket driver by name."""
    monkeypatch.delattr(engineio.async_drivers.aiohttp, "WebSocket")
    monkeypatch.delitem(sys.modules, "server.realtime.transport", raising=False)  # load afresh
    with caplog.at_level(logging.WARNING, logger="modeldeck.socket"):
        server: Running = await start_server()
    assert not server.app[HUB].fast_path
    assert "the fast path's transport does not load" in caplog.text
    await _delivers_and_replays(server, connect)


async def test_serve_no_fast_path_runs_on_stock_delivery(tmp_path: Path, connect) -> None:
    proc = ServerProcess(tmp_path / "stock.db", "--no-fast-path")
    try:
        await proc.start()
        client = await connect(proc.url)
        await client.wait_for("proxy:status")
        async with aiohttp.ClientSession() as http:
            patch = {"description": "stock"}
            async with http.patch(f"{proc.url}/api/models/sdxl", json=patch) as resp:
                assert resp.status == 200
        (update,) = await client.wait_for("models:updated")
        assert update["modelId"] == "sdxl"
        assert "fast path off (--no-fast-path)" in proc.log.read_text()
    finally:
        await proc.kill()


async def test_the_input_guard_runs_on_both_paths(server: Running) -> None:
    """The guard has its own check: ``--no-fast-path`` leaves it on."""
    from server.realtime.packet_guard import GuardedServer

    assert engine.guard_check() == []
    assert isinstance(server.app[HUB].sio, GuardedServer)


async def test_internals_the_guard_needs_missing_turn_it_off_and_say_why(
    start_server, connect, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """As if a new python-socketio renamed the per-event dispatcher the guard overrides."""
    import socketio

    async def handle_event_internal(self: Any, server: Any, sid: str, eio_sid: str,
                                    payload: Any, namespace: str, id: Any) -> None:  # fmt: skip
        raise AssertionError("never called: the probe only reads the signature")

    monkeypatch.setattr(socketio.AsyncServer, "_handle_event_internal", handle_event_internal)
    with caplog.at_level(logging.WARNING, logger="modeldeck.socket"):
        server: Running = await start_server()
    from server.realtime.packet_guard import GuardedServer

    assert not isinstance(server.app[HUB].sio, GuardedServer)
    assert "socket input guard off" in caplog.text
    assert "AsyncServer._handle_event_internal lacks parameter(s) data" in caplog.text
    monkeypatch.undo()  # python-socketio's own dispatcher again, for the deliveries
    await _delivers_and_replays(server, connect)
