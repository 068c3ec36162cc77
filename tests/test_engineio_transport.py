"""The websocket transport at the engine.io level, driven with raw frames.

Each test speaks engine.io v4 itself over aiohttp's websocket client (``0`` open,
``1`` close, ``2``/``3`` ping/pong, ``4`` message, ``5`` upgrade; ``40`` is a
Socket.IO CONNECT), the way a buggy or hostile client could, and checks what a
user of the server sees: whether the connection is closed, whether ``/health``
still counts a client, whether deliveries reach the right websocket.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest

from server.keys import HUB
from tests.clients import eventually
from tests.conftest import Running

# The hardened transport is the fast path's (server/realtime/engine.py).
pytestmark = pytest.mark.fast_path_only

CLOSED = (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSING, aiohttp.WSMsgType.CLOSED)
MAX_PAYLOAD = 1_000_000  # engine.io's default maxPayload (max_http_buffer_size)


def ws_url(server: Running, sid: str | None = None) -> str:
    url = server.url.replace("http://", "ws://") + "/socket.io/?EIO=4&transport=websocket"
    return url + (f"&sid={sid}" if sid else "")


def polling_url(server: Running, sid: str | None = None) -> str:
    url = server.url + "/socket.io/?EIO=4&transport=polling"
    return url + (f"&sid={sid}" if sid else "")


async def clients(server: Running) -> int:
    status, health = await server.api.get("/health")
    assert status == 200
    return int(health["clients"])


async def until_clients(server: Running, count: int, timeout: float = 5.0) -> None:
    """Until ``/health`` counts ``count`` clients (no event to wait on: re-ask)."""
    async with asyncio.timeout(timeout):
        while await clients(server) != count:  # noqa: ASYNC110 - polled, bounded
            await asyncio.sleep(0.05)


async def text(ws: aiohttp.ClientWebSocketResponse, timeout: float = 5.0) -> str:
    message = await ws.receive(timeout=timeout)
    assert message.type == aiohttp.WSMsgType.TEXT, message
    return str(message.data)


async def until_text(
    ws: aiohttp.ClientWebSocketResponse, prefix: str, timeout: float = 5.0
) -> str:
    """The next text frame starting with ``prefix``, skipping the others."""
    async with asyncio.timeout(timeout):
        while not (data := await text(ws)).startswith(prefix):
            pass
    return data


async def until_closed(ws: aiohttp.ClientWebSocketResponse, timeout: float = 5.0) -> None:
    """Read until the server closes the websocket; fail if it stays open."""
    async with asyncio.timeout(timeout):
        while (await ws.receive()).type not in CLOSED:
            pass


@pytest.fixture
async def raw(http: aiohttp.ClientSession) -> AsyncIterator[Any]:
    """Open raw engine.io websockets: ``await raw(server)`` → (ws, sid) after OPEN."""
    opened: list[aiohttp.ClientWebSocketResponse] = []

    async def open_ws(
        server: Running, sid: str | None = None
    ) -> tuple[aiohttp.ClientWebSocketResponse, str]:
        ws = await http.ws_connect(ws_url(server, sid), autoping=True)
        opened.append(ws)
        if sid is not None:
            return ws, sid
        opening = await text(ws)
        assert opening.startswith("0{"), opening
        return ws, json.loads(opening[1:])["sid"]

    yield open_ws
    for ws in opened:
        await ws.close()


async def socketio_connect(ws: aiohttp.ClientWebSocketResponse) -> None:
    await ws.send_str("40")
    await until_text(ws, "40{")


# --- (a) an invalid engine.io packet ----------------------------------------------


@pytest.mark.parametrize("bad", ["x", "", "9oops"], ids=["not-a-type", "empty", "unknown-type"])
async def test_an_invalid_engineio_packet_closes_the_session_at_once(
    server: Running, raw: Any, bad: str
) -> None:
    ws, _ = await raw(server)
    await socketio_connect(ws)
    assert await clients(server) == 1

    await ws.send_str(bad)

    await until_closed(ws, timeout=3)  # Node closes at once; not at the ping timeout
    await until_clients(server, 0)


# --- (b) a second websocket during an upgrade --------------------------------------


async def test_a_second_websocket_during_an_upgrade_cannot_take_over_delivery(
    server: Running, raw: Any, http: aiohttp.ClientSession
) -> None:
    async with http.get(polling_url(server)) as resp:
        body = await resp.text()
    sid = json.loads(body[1:])["sid"]
    async with http.post(polling_url(server, sid), data="40") as resp:
        assert resp.status == 200
    async with http.get(polling_url(server, sid)) as resp:
        assert "40{" in await resp.text()

    first, _ = await raw(server, sid)
    await first.send_str("2probe")
    assert await text(first) == "3probe"
    second, _ = await raw(server, sid)  # same sid, while the first is upgrading
    await until_closed(second, timeout=3)
    await first.send_str("5")  # the client confirms the upgrade on the first

    status, _ = await server.api.post("/api/models", {"name": "After upgrade", "type": "chat"})
    assert status == 201
    event = await until_text(first, '42["models:updated"')
    assert "after-upgrade" in event


# --- (c) a message of exactly maxPayload bytes -------------------------------------


async def test_a_message_of_exactly_max_payload_bytes_is_accepted(
    server: Running, raw: Any
) -> None:
    ws, _ = await raw(server)
    await socketio_connect(ws)
    head = '421["subscribe",{"topics":["models"],"pad":"'
    tail = '"}]'
    message = head + "x" * (MAX_PAYLOAD - len(head) - len(tail)) + tail
    assert len(message.encode()) == MAX_PAYLOAD

    await ws.send_str(message)

    assert '"models"' in await until_text(ws, "431[")  # the ack: the topics now held


async def test_a_message_over_max_payload_closes_the_connection(
    server: Running, raw: Any
) -> None:
    ws, _ = await raw(server)
    await socketio_connect(ws)
    await ws.send_str("4" + "x" * MAX_PAYLOAD)
    await until_closed(ws)
    await until_clients(server, 0)


# --- connect timeout ----------------------------------------------------------------


async def test_a_session_that_never_sends_connect_is_closed_after_the_timeout(
    start_server, raw: Any
) -> None:
    server: Running = await start_server(socket_connect_timeout=0.5)
    connected, _ = await raw(server)
    await socketio_connect(connected)
    idle, _ = await raw(server)  # answers pings (autoping), never sends 40

    await until_closed(idle, timeout=5)

    # The client that did connect, opened earlier, is past the timeout and still served.
    assert await clients(server) == 1
    await connected.send_str('421["subscribe",{"topics":["models"]}]')
    assert '"models"' in await until_text(connected, "431[")


async def test_a_session_refused_for_its_token_is_closed_after_the_timeout(
    start_server, raw: Any
) -> None:
    server: Running = await start_server(token="s3cret", socket_connect_timeout=0.5)
    ws, _ = await raw(server)
    await ws.send_str("40")  # no auth: refused, and the session stays open...
    assert (await until_text(ws, "44")).startswith("44{")
    await until_closed(ws, timeout=5)  # ...until the connect timeout


# --- half-open sessions ------------------------------------------------------------


async def test_close_then_connect_on_one_websocket_leaves_no_session(
    server: Running, raw: Any
) -> None:
    sockets = []
    for _ in range(5):
        ws, _ = await raw(server)
        await ws.send_str("1")  # engine.io CLOSE...
        await ws.send_str("40")  # ...then a Socket.IO CONNECT on the same transport
        sockets.append(ws)
    for ws in sockets:
        await until_closed(ws)
    await until_clients(server, 0)


async def test_close_then_connect_in_one_polling_post_leaves_no_session(
    server: Running, http: aiohttp.ClientSession
) -> None:
    async with http.get(polling_url(server)) as resp:
        sid = json.loads((await resp.text())[1:])["sid"]
    async with http.post(polling_url(server, sid), data="1\x1e40") as resp:
        assert resp.status == 200
    await until_clients(server, 0)
    async with http.get(polling_url(server, sid)) as resp:
        assert resp.status == 400  # the session is gone


async def test_a_session_counts_while_its_transport_is_open(server: Running, raw: Any) -> None:
    """The other side of the half-open checks: a normal client is counted, then not."""
    ws, _ = await raw(server)
    await socketio_connect(ws)
    assert await clients(server) == 1
    await ws.close()
    await until_clients(server, 0)


async def test_a_polling_client_that_sends_close_gets_its_pending_poll_answered(
    server: Running, http: aiohttp.ClientSession
) -> None:
    """Its library waits for that poll to end before it is disconnected."""
    async with http.get(polling_url(server)) as resp:
        sid = json.loads((await resp.text())[1:])["sid"]
    async with http.post(polling_url(server, sid), data="40") as resp:
        assert resp.status == 200
    received = ""
    while "proxy:status" not in received:  # the CONNECT, then the greeting: all read
        async with http.get(polling_url(server, sid)) as resp:
            received += await resp.text()

    async def poll() -> int:
        async with http.get(polling_url(server, sid)) as resp:
            await resp.read()
            return resp.status

    pending = asyncio.ensure_future(poll())
    session = server.app[HUB].sio.eio.sockets[sid]
    await eventually(lambda: bool(session.queue._getters))  # the poll waits server-side
    async with http.post(polling_url(server, sid), data="1") as resp:
        assert resp.status == 200
    assert await asyncio.wait_for(pending, 3) == 200  # not at the ping timeout (45 s)
    await until_clients(server, 0)
