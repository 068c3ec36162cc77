"""Hostile socket input, answered and bounded: raw engine.io/Socket.IO frames in, over
websockets and long-polling, against the real app on a real port."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import aiohttp
import pytest

from tests.conftest import Running
from tests.hostile import EIO_QUERY, RawSocket, polling_session

BAD_ARGS = "bad_request"


async def health_clients(server: Running) -> int:
    status, body = await server.api.get("/health")
    assert status == 200
    return int(body["clients"])


async def until_clients(server: Running, count: int, timeout: float = 5.0) -> None:
    """Wait until ``/health`` counts ``count`` clients (no event says so)."""
    async with asyncio.timeout(timeout):
        while await health_clients(server) != count:  # noqa: ASYNC110 - polled over HTTP
            await asyncio.sleep(0.02)


async def post_poll(
    http: aiohttp.ClientSession, server: Running, sid: str, body: Any
) -> tuple[int, Any]:
    async with http.post(
        f"{server.url}{EIO_QUERY}&transport=polling&sid={sid}",
        data=body,
        headers={"Content-Type": "text/plain;charset=UTF-8"},
        timeout=aiohttp.ClientTimeout(total=5),
    ) as resp:
        return resp.status, await resp.json() if resp.content_type.endswith("json") else None


async def poll(http: aiohttp.ClientSession, server: Running, sid: str) -> int:
    async with http.get(
        f"{server.url}{EIO_QUERY}&transport=polling&sid={sid}",
        timeout=aiohttp.ClientTimeout(total=5),
    ) as resp:
        await resp.read()
        return resp.status


# -- long-polling bodies (issue 12 item 2) ------------------------------------------


async def test_oversized_polling_post_is_refused_at_once_and_its_session_closed(
    server: Running, http: aiohttp.ClientSession
) -> None:
    sid = await polling_session(http, server.url)
    status, body = await post_poll(http, server, sid, b"4" + b"x" * 1_000_000)
    assert status == 413
    assert body["error"]["code"] == "payload_too_large"
    assert body["error"]["message"].startswith("body: a long-polling request carries at most")
    assert await poll(http, server, sid) == 400  # the session is gone


async def test_chunked_polling_post_is_bounded_while_it_streams(
    server: Running, http: aiohttp.ClientSession
) -> None:
    """No Content-Length: the bound applies as the body arrives."""
    sid = await polling_session(http, server.url)

    async def endless() -> Any:
        yield b"4"
        for _ in range(100):  # 6.4 MB if it were all read
            yield b"x" * 65536

    status, body = await post_poll(http, server, sid, endless())
    assert status == 413 and body["error"]["code"] == "payload_too_large"
    assert await poll(http, server, sid) == 400


async def test_chunked_polling_post_within_the_bound_is_delivered(
    server: Running, http: aiohttp.ClientSession
) -> None:
    sid = await polling_session(http, server.url)

    async def connect_packet() -> Any:
        yield b"40"

    status, _ = await post_poll(http, server, sid, connect_packet())
    assert status == 200
    await until_clients(server, 1)


async def test_polling_post_of_a_packet_clients_never_send_is_refused(
    server: Running, http: aiohttp.ClientSession
) -> None:
    """A NOOP (6) made engine.io disconnect the session and wait forever for a poll."""
    sid = await polling_session(http, server.url)
    status, body = await post_poll(http, server, sid, b"6")
    assert status == 400
    assert body["error"]["message"] == "body: engine.io packet type 6 is not sent by clients"
    assert await poll(http, server, sid) == 400


async def test_polling_clients_still_work(server: Running, connect) -> None:
    client = await connect(server.url, transports=["polling"])
    assert (await client.next("proxy:status"))["seq"] == 0
    assert "models" not in await client.call("unsubscribe", {"topics": ["models"]})


# -- malformed packets (items 3 and 8) -----------------------------------------------


async def test_malformed_packets_are_logged_once_and_the_sender_dropped(
    server: Running, http: aiohttp.ClientSession, caplog: pytest.LogCaptureFixture
) -> None:
    raw = await RawSocket.open(http, server.url)
    caplog.set_level(logging.DEBUG, logger="modeldeck.socket")
    for _ in range(200):
        try:
            await raw.ws.send_str("4x")
        except ConnectionError:
            break
    assert await raw.closed()
    refusals = [r for r in caplog.records if r.getMessage().startswith("refusing input")]
    assert len(refusals) == 1 and refusals[0].levelno == logging.DEBUG
    assert not [r for r in caplog.records if r.exc_info]


async def test_extra_arguments_are_answered_then_the_sender_dropped(
    server: Running, http: aiohttp.ClientSession
) -> None:
    raw = await RawSocket.open(http, server.url)
    await raw.ws.send_str('422["subscribe",{"topics":["models"]},"x"]')
    reply = await raw.ack(2)
    assert reply == [
        {
            "success": False,
            "data": None,
            "error": {
                "code": BAD_ARGS,
                "message": "subscribe: takes one argument (an object), 2 given",
            },
        }
    ]
    assert await raw.closed()


@pytest.mark.parametrize(
    "packet",
    ['23[7,{"topics":["models"]}]', '23[["subscribe"]]', "23{}", "23[]", '23["connect",{}]'],
)
async def test_events_without_a_string_name_are_answered_then_dropped(
    server: Running, http: aiohttp.ClientSession, packet: str
) -> None:
    raw = await RawSocket.open(http, server.url)
    await raw.ws.send_str("4" + packet)
    [reply] = await raw.ack(3)
    assert reply["success"] is False and reply["error"]["code"] == BAD_ARGS
    assert await raw.closed()


async def test_an_unknown_event_is_answered_not_found_and_the_connection_kept(
    server: Running, http: aiohttp.ClientSession
) -> None:
    raw = await RawSocket.open(http, server.url)
    await raw.ws.send_str('424["no-such-event",{}]')
    [reply] = await raw.ack(4)
    assert reply["success"] is False
    assert reply["error"] == {
        "code": "not_found",
        "message": "event: no handler for 'no-such-event'",
    }
    await raw.ws.send_str('425["unsubscribe",{"topics":["models"]}]')
    [topics] = await raw.ack(5)
    assert "models" not in topics and "providers" in topics


async def test_a_second_connect_on_one_session_is_refused(
    server: Running, http: aiohttp.ClientSession
) -> None:
    """It registered a second client on the same transport that was never removed."""
    raw = await RawSocket.open(http, server.url)
    assert await health_clients(server) == 1
    await raw.ws.send_str("40")
    assert await raw.closed()
    await until_clients(server, 0)


# -- binary (item 7) -------------------------------------------------------------------


@pytest.mark.parametrize(
    "frame",
    [
        '451-["x",{"_placeholder":true,"num":5}]',
        '459999999-["x",{"_placeholder":true,"num":0}]',
        b"\x00\x01binary",
    ],
)
async def test_binary_packets_close_the_connection_and_leave_others_working(
    server: Running, http: aiohttp.ClientSession, connect, frame: str | bytes
) -> None:
    watcher = await connect(server.url)
    await watcher.next("proxy:status")
    raw = await RawSocket.open(http, server.url)
    if isinstance(frame, bytes):
        await raw.ws.send_bytes(frame)
    else:
        await raw.ws.send_str(frame)
        for _ in range(3):  # the attachments it announced
            try:
                await raw.ws.send_bytes(b"\0" * 100_000)
            except ConnectionError:
                break
    assert await raw.closed()
    await until_clients(server, 1)
    again = await RawSocket.open(http, server.url)  # the server is in a good state
    await again.ws.send_str('421["unsubscribe",{"topics":["models"]}]')
    [topics] = await again.ack(1)
    assert "providers" in topics and "models" not in topics
    status, _ = await server.api.post(
        "/api/providers", {"name": "Acme", "sdkId": "acme", "baseUrl": "http://127.0.0.1:9"}
    )
    assert status == 201
    event = await watcher.next("providers:updated")
    assert event["providerId"] == "acme"


async def test_a_binary_event_asking_for_an_ack_is_answered(
    server: Running, http: aiohttp.ClientSession
) -> None:
    raw = await RawSocket.open(http, server.url)
    await raw.ws.send_str('451-7["x",{"_placeholder":true,"num":0}]')
    [reply] = await raw.ack(7)
    assert reply["error"] == {"code": BAD_ARGS, "message": "binary attachments are not accepted"}
    assert await raw.closed()


#: Not engine.io packets at all: engine.io's own websocket (the stock path) raises on
#: them and keeps the session; closing it is the fast path's transport's doing.
NOT_ENGINEIO = [pytest.param(f, marks=pytest.mark.fast_path_only) for f in ("x", "9")]


@pytest.mark.parametrize("frame", [*NOT_ENGINEIO, "b!!!", "4x", '42[1,{"topics":[]}]'])
async def test_garbage_on_a_socket_upgraded_from_polling_closes_it_quietly(
    server: Running, http: aiohttp.ClientSession, caplog: pytest.LogCaptureFixture, frame: str
) -> None:
    """socket.io-client's default path: long-polling first, then the websocket upgrade."""
    sid = await polling_session(http, server.url)
    assert (await post_poll(http, server, sid, b"40"))[0] == 200
    await until_clients(server, 1)
    ws = await http.ws_connect(f"{server.url}{EIO_QUERY}&transport=websocket&sid={sid}")
    await ws.send_str("2probe")
    assert await ws.receive_str(timeout=5) == "3probe"
    await ws.send_str("5")
    await ws.send_str(frame)
    assert await RawSocket(ws, sid).closed()
    await until_clients(server, 0)
    assert not [r for r in caplog.records if r.exc_info or r.levelno >= logging.ERROR]


@pytest.mark.parametrize(
    ("event", "argument"),
    [
        ("subscribe", {"topics": 5}),
        ("unsubscribe", None),
        ("pull:subscribe", {}),
        ("pull:start", {"model": 7}),
        ("update_model", []),
    ],
)
async def test_bad_arguments_are_answered_success_false(
    server: Running, connect, event: str, argument: Any
) -> None:
    """Well-formed events with a bad argument: a clear answer, the connection kept."""
    client = await connect(server.url)
    reply = await client.call(event, argument)
    assert reply["success"] is False and reply["data"] is None
    assert reply["error"]["code"] in ("bad_request", "validation_error")
    assert client.sio.connected
