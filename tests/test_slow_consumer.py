"""A client that stops reading is cut off; everyone else keeps getting every event."""

from __future__ import annotations

import asyncio
import socket

import aiohttp
import pytest

from server.keys import HUB
from tests.clients import eventually
from tests.conftest import Running

LIMIT = 512 * 1024


async def _grow_payloads(server: Running) -> None:
    """Make each models:updated / proxy:status about 100 KB, as a big registry would."""
    for i in range(24):
        body = {"name": f"Big {i}", "description": "d" * 4000}
        assert (await server.api.post("/api/models", body))[0] == 201


def _stop_reading(client) -> None:
    """Freeze the client like a hung browser tab: its socket is never read again."""
    transport = client.sio.eio.ws._response.connection.transport
    transport.get_extra_info("socket").setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    transport.pause_reading()


@pytest.mark.fast_path_only
async def test_stalled_client_is_cut_off_others_get_everything(start_server, connect) -> None:
    server: Running = await start_server(client_queue_bytes=LIMIT, client_queue_messages=1000)
    await _grow_payloads(server)
    hub = server.app[HUB]
    reader = await connect(server.url)
    stalled = await connect(server.url)
    await asyncio.gather(reader.wait_for("proxy:status"), stalled.wait_for("proxy:status"))
    _stop_reading(stalled)

    writes = 60  # ~12 MB of events for the stalled client: far over its bound
    for i in range(writes):
        await server.api.patch("/api/models/big-0", {"description": f"rev {i}"})
    await reader.wait_for("models:updated", writes, timeout=20)
    await reader.wait_for("proxy:status", writes + 1, timeout=20)
    got = [d["seq"] for n, d in reader.events if n == "models:updated"]
    assert got == sorted(got) and len(got) == writes

    await eventually(lambda: hub.client_count == 1)
    assert hub.fanout.stats.overflows >= 1
    # Unsent bytes never grew past the bound plus one write (a burst of ~100 KB events).
    assert hub.websockets.high_water_bytes <= 2 * LIMIT
    _, metrics = await server.api.get("/metrics")
    assert "modeldeck_slow_consumer_disconnects_total 1.0" in metrics


async def test_prompt_reader_is_never_cut_off_by_large_bursts(start_server, connect) -> None:
    server: Running = await start_server(client_queue_bytes=LIMIT)
    await _grow_payloads(server)
    reader = await connect(server.url)
    await reader.wait_for("proxy:status")
    results = await asyncio.gather(
        *(server.api.patch("/api/models/big-1", {"description": f"r{i}"}) for i in range(40))
    )
    assert all(status == 200 for status, _ in results)
    await reader.wait_for("models:updated", 40, timeout=20)
    assert server.app[HUB].fanout.stats.overflows == 0


async def test_one_event_larger_than_the_bound_reaches_a_client_that_reads(
    start_server, connect
) -> None:
    """The bound is on what is unsent: a single big event is not "falling behind"."""
    small = 64 * 1024  # the smallest bound allowed; each event below is ~100 KB
    server: Running = await start_server(client_queue_bytes=small)
    await _grow_payloads(server)
    reader = await connect(server.url)
    greeting = (await reader.wait_for("proxy:status"))[0]
    assert len(str(greeting)) > small

    for i in range(3):
        assert (await server.api.patch("/api/models/big-2", {"description": f"r{i}"}))[0] == 200
    updates = await reader.wait_for("models:updated", 3, timeout=10)
    assert [u["modelId"] for u in updates] == ["big-2"] * 3
    hub = server.app[HUB]
    assert hub.fanout.stats.overflows == 0 and hub.client_count == 1


@pytest.mark.fast_path_only
async def test_websocket_declines_deflate_unless_asked(start_server, http) -> None:
    for compression, expected in ((False, False), (True, True)):
        server: Running = await start_server(ws_compression=compression)
        url = server.url + "/socket.io/?EIO=4&transport=websocket"
        async with http.ws_connect(url, compress=15) as ws:
            offered = ws._response.headers.get("Sec-WebSocket-Extensions", "")
            assert ("permessage-deflate" in offered) is expected
            opening = await ws.receive(timeout=5)
            assert opening.type == aiohttp.WSMsgType.TEXT and opening.data.startswith("0{")
        await server.stop()
