"""What a hostile client sends, in raw engine.io/Socket.IO frames, and how a server shows it.

Shared by the tests and by ``bench/hostile_sockets.py``: oversized long-polling bodies,
malformed and binary websocket frames, and the server's resident memory as
``/proc/<pid>/status`` reports it.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
from pathlib import Path
from typing import Any

import aiohttp

EIO_QUERY = "/socket.io/?EIO=4"


def rss_kib(pid: int) -> int:
    """The resident set size of process ``pid``, in KiB (``VmRSS``)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError(f"no VmRSS for pid {pid}")


async def polling_session(http: aiohttp.ClientSession, url: str) -> str:
    """Open an engine.io long-polling session (the handshake only); return its sid."""
    async with http.get(url + EIO_QUERY + "&transport=polling") as resp:
        body = await resp.text()
    assert resp.status == 200, body
    handshake: dict[str, Any] = json.loads(body[1:])  # "0{...}": the OPEN packet
    return str(handshake["sid"])


async def oversized_poll(
    http: aiohttp.ClientSession, url: str, size: int, *, chunked: bool = False, wait: float = 2.0
) -> int | None:
    """A new polling session, then one POST of ``size`` bytes to it; the answer's status,
    or None when none came within ``wait`` seconds (the request is then abandoned)."""
    sid = await polling_session(http, url)
    body = b"4" + b"x" * (size - 1)

    async def chunks() -> Any:
        for start in range(0, len(body), 64 * 1024):
            yield body[start : start + 64 * 1024]

    try:
        async with asyncio.timeout(wait):
            async with http.post(
                f"{url}{EIO_QUERY}&transport=polling&sid={sid}",
                data=chunks() if chunked else body,
                headers={"Content-Type": "text/plain;charset=UTF-8"},
            ) as resp:
                await resp.read()
                return resp.status
    except (TimeoutError, aiohttp.ClientError):
        return None


async def oversized_polls(
    url: str, count: int, size: int, *, concurrency: int = 20, chunked: bool = False
) -> dict[int | None, int]:
    """``count`` oversized polling POSTs, ``concurrency`` at a time; statuses counted."""
    statuses: dict[int | None, int] = {}
    todo = iter(range(count))
    connector = aiohttp.TCPConnector(limit=concurrency, force_close=True)
    async with aiohttp.ClientSession(connector=connector) as http:

        async def worker() -> None:
            for _ in todo:
                status = await oversized_poll(http, url, size, chunked=chunked)
                statuses[status] = statuses.get(status, 0) + 1

        await asyncio.gather(*(worker() for _ in range(concurrency)))
    return statuses


class RawSocket:
    """A Socket.IO client made of raw websocket frames: says exactly what it is told to."""

    def __init__(self, ws: aiohttp.ClientWebSocketResponse, sid: str) -> None:
        self.ws = ws
        self.sid = sid

    @classmethod
    async def open(
        cls, http: aiohttp.ClientSession, url: str, auth: dict[str, Any] | None = None
    ) -> RawSocket:
        """Open a websocket, read engine.io's OPEN, connect to the default namespace."""
        ws = await http.ws_connect(url + EIO_QUERY + "&transport=websocket", autoping=False)
        opened = await ws.receive_str(timeout=5)
        assert opened.startswith("0"), opened
        await ws.send_str("40" + (json.dumps(auth) if auth else ""))
        raw = cls(ws, "")
        connected = await raw.next_packet(lambda p: p.startswith(("0", "4")))
        assert connected.startswith("0{"), connected
        raw.sid = json.loads(connected[1:])["sid"]
        return raw

    async def next_packet(self, match: Any, timeout: float = 5.0) -> str:
        """The next Socket.IO packet (text frame without engine.io's ``4``) matching
        ``match``; answers pings on the way."""
        async with asyncio.timeout(timeout):
            while True:
                message = await self.ws.receive()
                if message.type != aiohttp.WSMsgType.TEXT:
                    raise ConnectionError(f"websocket ended: {message.type.name}")
                text: str = message.data
                if text == "2":
                    await self.ws.send_str("3")
                elif text.startswith("4") and match(text[1:]):
                    return text[1:]

    async def ack(self, ack_id: int, timeout: float = 5.0) -> Any:
        """The arguments of the ACK packet ``ack_id``."""
        packet = await self.next_packet(lambda p: p.startswith(f"3{ack_id}["), timeout)
        return json.loads(packet[1 + len(str(ack_id)) :])

    async def closed(self, timeout: float = 5.0) -> bool:
        """True once the server has ended this websocket (within ``timeout``)."""
        try:
            async with asyncio.timeout(timeout):
                while True:
                    message = await self.ws.receive()
                    if message.type in (
                        aiohttp.WSMsgType.CLOSE,
                        aiohttp.WSMsgType.CLOSED,
                        aiohttp.WSMsgType.CLOSING,
                        aiohttp.WSMsgType.ERROR,
                    ):
                        return True
                    if message.type == aiohttp.WSMsgType.TEXT and message.data == "2":
                        with contextlib.suppress(ConnectionError):
                            await self.ws.send_str("3")
        except TimeoutError:
            return False

    async def close(self) -> None:
        await self.ws.close()


#: Socket.IO packets (after engine.io's ``4``) that a hostile or broken client sends.
MALFORMED_PACKETS = (
    "x",
    "",
    "9",
    "2",
    "2{}",
    '2"subscribe"',
    "2[]",
    "2[1]",
    "2[null]",
    '2[["subscribe"]]',
    '2[{"a":1}]',
    "2[",
    '2["subscribe",',
    '21["subscribe",{"topics":["models"]},"x"]',
    "21[1,2]",
    '2/nope,["subscribe"]',
    '2/nope,3["subscribe"]',
    '2["connect",{}]',
    '21["disconnect"]',
    "31[]",
    "399[1]",
    "4",
    '4{"message":"x"}',
    '51-["x",{"_placeholder":true,"num":0}]',
    '451-["x",{"_placeholder":true,"num":5}]',
    '59999999-["x",{"_placeholder":true,"num":0}]',
    '61-1[{"_placeholder":true,"num":0}]',
    "0",
    '0{"token":1}',
    "1",
    '2999999999999999999999999["subscribe"]',
)


def random_frame(rng: random.Random) -> str | bytes:
    """One websocket frame: a known-bad packet, a mutated one, or noise."""
    kind = rng.random()
    if kind < 0.45:
        return "4" + rng.choice(MALFORMED_PACKETS)
    if kind < 0.75:
        packet = list("4" + rng.choice(MALFORMED_PACKETS) + '["subscribe",{"topics":["x"]}]')
        for _ in range(rng.randint(1, 4)):
            packet[rng.randrange(len(packet))] = chr(rng.randrange(32, 127))
        return "".join(packet)
    if kind < 0.85:
        return bytes(rng.randrange(256) for _ in range(rng.randint(0, 40)))
    if kind < 0.95:
        return "".join(chr(rng.randrange(1, 0x2FF)) for _ in range(rng.randint(0, 40)))
    return rng.choice(["", "b", "b!!!", "5", "6", "7", "1", "3", "2probe", "4" * 50])
