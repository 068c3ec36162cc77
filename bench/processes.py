"""Several modeldeck processes on one database: what sharing costs and how fast a
killed supervisor is replaced. Prints figures; asserts nothing.

    .venv/bin/python bench/processes.py [--writes 200] [--rate 10] [--takeovers 3]

- cross-process delivery: writes through process A at ``--rate`` writes/s, each timed
  from just before the PATCH to its ``models:updated`` on a websocket client of
  process B (and, for comparison, on a client of A itself);
- lease take-over: A supervises the router; A is SIGKILLed; time until B holds the
  lease (its /health says so) and until B's router answers again.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import aiohttp
import socketio

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.processes import ServerProcess, free_port


def quantile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


async def listener(url: str, arrivals: dict[str, float]) -> socketio.AsyncClient:
    client = socketio.AsyncClient()

    @client.on("models:updated")
    async def on_models(data: Any) -> None:
        model = next((m for m in data.get("items", []) if m["id"] == "sdxl"), None)
        if model is not None:
            arrivals.setdefault(model["description"], time.perf_counter())

    await client.connect(url, transports=["websocket"])
    return client


async def cross_process(root: Path, writes: int, rate: float) -> None:
    db = root / "latency.db"
    a, b = ServerProcess(db, "--log-level", "WARNING"), ServerProcess(db, "--log-level", "WARNING")
    on_a: dict[str, float] = {}
    on_b: dict[str, float] = {}
    sent: dict[str, float] = {}
    try:
        await a.start()
        await b.start()
        clients = [await listener(a.url, on_a), await listener(b.url, on_b)]
        async with aiohttp.ClientSession() as http:
            for i in range(writes):
                tag = f"bench {i}"
                due = time.perf_counter() + 1 / rate
                sent[tag] = time.perf_counter()
                async with http.patch(f"{a.url}/api/models/sdxl", json={"description": tag}):
                    pass
                await asyncio.sleep(max(0.0, due - time.perf_counter()))
            await asyncio.sleep(1)
        for client in clients:
            await client.disconnect()
    finally:
        await a.kill()
        await b.kill()
    for label, arrivals in (("A -> client on B", on_b), ("A -> client on A", on_a)):
        lat = [(arrivals[t] - sent[t]) * 1000 for t in sent if t in arrivals]
        print(f"{label}: {len(lat)}/{writes} delivered at {rate:g} writes/s: "
              f"p50 {statistics.median(lat):.1f} ms, p99 {quantile(lat, 0.99):.1f} ms, "
              f"max {max(lat):.1f} ms")  # fmt: skip


async def health(http: aiohttp.ClientSession, url: str) -> dict[str, Any] | None:
    try:
        async with http.get(url + "/health") as resp:
            return await resp.json()  # type: ignore[no-any-return]
    except aiohttp.ClientError:
        return None


async def takeover(root: Path, rounds: int) -> None:
    db = root / "lease.db"
    router_port = free_port()
    args = ("--log-level", "WARNING", "--router-port", str(router_port), "--proxy-autostart")
    holder = ServerProcess(db, *args)
    await holder.start()
    taken: list[float] = []
    serving: list[float] = []
    try:
        async with aiohttp.ClientSession() as http:
            for _ in range(rounds):
                other = ServerProcess(db, *args)
                await other.start()
                await asyncio.sleep(1)
                killed = time.perf_counter()
                await holder.kill()
                lease_at = None
                while True:
                    body = await health(http, other.url)
                    if lease_at is None and body and body["process"]["supervisesProxies"]:
                        lease_at = time.perf_counter()
                    if lease_at is not None:
                        try:
                            async with http.get(f"http://127.0.0.1:{router_port}/health") as r:
                                if r.status == 200 and (await r.json())["pid"]:
                                    break
                        except aiohttp.ClientError:
                            pass
                    await asyncio.sleep(0.02)
                taken.append(lease_at - killed)
                serving.append(time.perf_counter() - killed)
                holder = other
    finally:
        await holder.kill()
    print(f"lease take-over after SIGKILL of the holder ({rounds} rounds): "
          f"lease {min(taken):.2f}-{max(taken):.2f} s, router serving again "
          f"{min(serving):.2f}-{max(serving):.2f} s")  # fmt: skip


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--writes", type=int, default=200)
    parser.add_argument("--rate", type=float, default=10.0)
    parser.add_argument("--takeovers", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="modeldeck-processes-") as scratch:
        await cross_process(Path(scratch), args.writes, args.rate)
        await takeover(Path(scratch), args.takeovers)


if __name__ == "__main__":
    asyncio.run(main())
