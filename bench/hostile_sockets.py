"""What hostile socket input costs a running modeldeck: memory and log growth.

    .venv/bin/python bench/hostile_sockets.py [--polls 1000] [--frames 5000] [--binary 300]

Starts ``modeldeck serve`` on a scratch database, then, with no token:
- ``--polls`` long-polling POSTs of 1 MB (over engine.io's 1,000,000-byte maxPayload),
  each on a fresh session: the server's RSS before, right after and once settled;
- ``--frames`` malformed ``4x`` frames on one websocket: how much the log grows;
- a ``459999999-[...]`` attachment header then ``--binary`` binary frames of 900 KB:
  the RSS growth while that connection is open.
Prints figures; asserts nothing.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from pathlib import Path

import aiohttp

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from tests.hostile import RawSocket, oversized_polls, rss_kib  # noqa: E402
from tests.processes import ServerProcess  # noqa: E402

MB = 1024


async def settled_rss(pid: int, seconds: float) -> int:
    """The RSS after ``seconds`` of quiet (sessions time out, buffers are freed)."""
    await asyncio.sleep(seconds)
    return rss_kib(pid)


async def polls(server: ServerProcess, pid: int, count: int) -> None:
    before = rss_kib(pid)
    started = time.monotonic()
    statuses = await oversized_polls(server.url, count, 1_000_001)
    took = time.monotonic() - started
    after = rss_kib(pid)
    settled = await settled_rss(pid, 5)
    print(
        f"{count} polling POSTs of 1 MB in {took:.1f} s, answers {statuses}: "
        f"RSS {before // MB} MB → {after // MB} MB, {settled // MB} MB 5 s later"
    )


async def malformed(server: ServerProcess, frames: int) -> None:
    async with aiohttp.ClientSession() as http:
        raw = await RawSocket.open(http, server.url)
        before = server.log.stat().st_size
        sent = 0
        for _ in range(frames):
            try:
                await raw.ws.send_str("4x")
            except ConnectionError:
                break  # the server closed it
            sent += 1
        dropped = await raw.closed(timeout=2)
        await raw.close()
    await asyncio.sleep(1)
    grown = server.log.stat().st_size - before
    print(f"{sent} frames of '4x' sent: log grew {grown:,} bytes; connection dropped: {dropped}")


async def binary(server: ServerProcess, pid: int, frames: int) -> None:
    before = rss_kib(pid)
    async with aiohttp.ClientSession() as http:
        raw = await RawSocket.open(http, server.url)
        await raw.ws.send_str('459999999-["x",{"_placeholder":true,"num":0}]')
        sent = 0
        chunk = b"\0" * 900_000
        for _ in range(frames):
            try:
                await raw.ws.send_bytes(chunk)
            except ConnectionError:
                break
            sent += 1
        dropped = await raw.closed(timeout=2)
        during = rss_kib(pid)
        await raw.close()
    print(
        f"attachment header + {sent} binary frames of 900 KB: RSS {before // MB} MB → "
        f"{during // MB} MB while connected; connection dropped: {dropped}"
    )


async def main(args: argparse.Namespace) -> None:
    with tempfile.TemporaryDirectory() as scratch:
        server = ServerProcess(Path(scratch) / "bench.db", "--no-seed")
        await server.start()
        assert server.proc is not None
        pid = server.proc.pid
        try:
            print(f"server pid {pid}, RSS at start {rss_kib(pid) // MB} MB")
            if args.polls:
                await polls(server, pid, args.polls)
            if args.frames:
                await malformed(server, args.frames)
            if args.binary:
                await binary(server, pid, args.binary)
        finally:
            await server.kill()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--polls", type=int, default=1000)
    parser.add_argument("--frames", type=int, default=5000)
    parser.add_argument("--binary", type=int, default=300)
    asyncio.run(main(parser.parse_args()))
