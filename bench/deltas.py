"""What one single-model write costs with a large registry: log bytes, PATCH latency,
bytes per client, write → last client latency.

    .venv/bin/python bench/deltas.py [--models 1000 10000] [--clients 1000]
        [--patches 10000] [--formats delta full] [--full-clients 100]

For each registry size: a fresh database is seeded with that many models (inserted
with sqlite3 while the server is stopped, then the server restarts on it), then

- the bytes one PATCH adds to the event log, and the database size after ``--patches``
  sequential PATCHes (main file + WAL), with PATCH p50/p99;
- with ``--clients`` socket.io-client connections (bench/delta_clients.mjs) per format:
  bytes one client receives per write (models:updated + its proxy:status) and the
  time from sending a PATCH to the last client receiving its event, p50/p99, at 10
  writes/s. Full-format clients are fewer (``--full-clients``): at 1,000 models a full
  write is ~0.9 MB per client.

Needs ``npm ci`` in test_clients. Prints figures; asserts nothing.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sqlite3
import statistics
import sys
import tempfile
import time
from pathlib import Path

import aiohttp

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from tests.processes import ServerProcess  # noqa: E402

TARGET = "bench-model-1"
NOW = "2026-12-01T00:00:00.000Z"


def quantile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def add_models(db: Path, count: int) -> None:
    """Fill the registry (setup only, server stopped): ``count`` models in all."""
    with sqlite3.connect(db) as conn:
        existing = conn.execute("SELECT COUNT(*) FROM models").fetchone()[0]
        conn.executemany(
            "INSERT INTO models (id, name, description, type, provider_id, sdk_id,"
            " context_length, created_at, updated_at) VALUES (?,?,?,?,?,?,?,?,?)",
            [_row(i) for i in range(1, count - existing + 1)],
        )


def _row(i: int) -> tuple[object, ...]:
    return (
        f"bench-model-{i}", f"Bench Model {i}", f"A model of the benchmark, no. {i}",
        "chat", "google", f"google:bench-{i}", 128_000, NOW, NOW,
    )  # fmt: skip


def db_bytes(db: Path) -> int:
    return sum(p.stat().st_size for p in (db, db.with_name(db.name + "-wal")) if p.exists())


def log_bytes_since(db: Path, seq: int) -> tuple[int, int]:
    with sqlite3.connect(db) as conn:
        row = conn.execute(
            "SELECT COALESCE(SUM(LENGTH(data) + COALESCE(LENGTH(prior), 0)), 0),"
            " COALESCE(MAX(seq), 0) FROM events"
            " WHERE seq > ?",
            (seq,),
        ).fetchone()
    return int(row[0]), int(row[1])


async def patch(http: aiohttp.ClientSession, url: str, i: int) -> float:
    started = time.perf_counter()
    async with http.patch(f"{url}/api/models/{TARGET}", json={"description": f"rev {i}"}) as resp:
        assert resp.status == 200, await resp.text()
        await resp.read()
    return time.perf_counter() - started


async def clients_run(
    url: str, http: aiohttp.ClientSession, clients: int, fmt: str, writes: int
) -> None:
    holder = await asyncio.create_subprocess_exec(
        "node", str(ROOT / "bench/delta_clients.mjs"), url, str(clients), fmt,
        stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, limit=2**26,
    )  # fmt: skip
    assert holder.stdout is not None and holder.stdin is not None
    try:
        started = time.monotonic()
        line = await asyncio.wait_for(holder.stdout.readline(), 900)
        assert line.startswith(b"ready"), line
        took = time.monotonic() - started
        print(f"  {clients} {fmt} clients connected and greeted in {took:.1f} s")
        sent: dict[int, float] = {}
        for i in range(writes):
            tick = time.monotonic()
            at = time.time() * 1000
            async with http.patch(
                f"{url}/api/models/{TARGET}", json={"description": f"fan {fmt} {i}"}
            ) as resp:
                assert resp.status == 200
                body = await resp.json()
            sent[i] = at
            del body
            await asyncio.sleep(max(0.0, 0.1 - (time.monotonic() - tick)))  # 10 writes/s
        await asyncio.sleep(2.0)  # let the last events land before asking for the report
        holder.stdin.close()
        report = json.loads(await asyncio.wait_for(holder.stdout.readline(), 120))
    finally:
        if holder.returncode is None:
            holder.kill()
        await holder.wait()
    seqs = sorted(int(s) for s in report)[-writes:]
    latencies = [report[str(s)][1] - sent[i] for i, s in enumerate(seqs)]
    complete = sum(1 for s in seqs if report[str(s)][0] == clients)
    per_write = statistics.mean(report[str(s)][2] for s in seqs)
    print(
        f"  {clients} {fmt} clients, {writes} writes at 10/s: bytes per client per write"
        f" {per_write:,.0f}; write → last client p50 {quantile(latencies, 0.5):.1f} ms,"
        f" p99 {quantile(latencies, 0.99):.1f} ms; writes every client got: {complete}/{writes}"
    )


async def run_size(models: int, args: argparse.Namespace) -> None:
    with tempfile.TemporaryDirectory() as scratch:
        db = Path(scratch) / "bench.db"
        server = ServerProcess(db, "--log-level", "WARNING")
        await server.start(timeout=60)
        await server.signal(2)
        await server.wait(30)
        add_models(db, models)
        server = ServerProcess(db, "--log-level", "WARNING")
        await server.start(timeout=120)
        try:
            async with aiohttp.ClientSession() as http:
                print(f"{models:,} models")
                _, seq = log_bytes_since(db, 0)
                await patch(http, server.url, -1)
                added, _ = log_bytes_since(db, seq)
                print(
                    f"  event log bytes added by one single-model PATCH: {added:,}"
                    " (both events and the prior objects)"
                )
                before = db_bytes(db)
                timings = [await patch(http, server.url, i) for i in range(args.patches)]
                ms = [t * 1000 for t in timings]
                print(
                    f"  {args.patches:,} PATCHes: p50 {quantile(ms, 0.5):.2f} ms,"
                    f" p99 {quantile(ms, 0.99):.2f} ms; database {before / 1e6:.1f} MB →"
                    f" {db_bytes(db) / 1e6:.1f} MB (file + WAL)"
                )
                for fmt in args.formats:
                    count = args.clients if fmt == "delta" else args.full_clients
                    await clients_run(server.url, http, count, fmt, args.writes)
        finally:
            await server.signal(15)
            await server.wait(60)


async def main(args: argparse.Namespace) -> None:
    for models in args.models:
        await run_size(models, args)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", type=int, nargs="+", default=[1000, 10_000])
    parser.add_argument("--clients", type=int, default=1000)
    parser.add_argument("--full-clients", type=int, default=100)
    parser.add_argument("--patches", type=int, default=10_000)
    parser.add_argument("--writes", type=int, default=100)
    parser.add_argument("--formats", nargs="+", default=["delta", "full"])
    asyncio.run(main(parser.parse_args()))
