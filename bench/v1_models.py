"""GET /v1/models latency with 1,000 registered models, and the cost of a write.

Starts ``modeldeck serve`` as a subprocess on a scratch database, registers the
models, then times sequential reads (cache warm), reads right after a write (cache
rebuilt), and single writes. Prints figures; asserts nothing.

    .venv/bin/python bench/v1_models.py [--models 1000] [--reads 2000]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from pathlib import Path

import aiohttp

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from tests.processes import ServerProcess


def pct(samples: list[float], p: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(len(ordered) * p))] * 1000


async def timed(http: aiohttp.ClientSession, method: str, url: str, **kw: object) -> float:
    started = time.perf_counter()
    async with http.request(method, url, **kw) as resp:
        await resp.read()
        assert resp.status < 300, resp.status
    return time.perf_counter() - started


async def main(models: int, reads: int) -> None:
    with tempfile.TemporaryDirectory() as scratch:
        proc = ServerProcess(Path(scratch) / "bench.db", "--log-level", "WARNING")
        await proc.start()
        try:
            async with aiohttp.ClientSession() as http:
                sem = asyncio.Semaphore(20)

                async def create(i: int) -> None:
                    async with sem:
                        body = {"id": f"bench-{i}", "name": f"Bench {i}", "contextLength": 8192,
                                "description": "a registered model"}  # fmt: skip
                        await timed(http, "POST", f"{proc.url}/api/models", json=body)

                await asyncio.gather(*(create(i) for i in range(models)))
                url = f"{proc.url}/v1/models?type=chat"
                async with http.get(url) as resp:
                    listed = len(await resp.json())
                warm = [await timed(http, "GET", url) for _ in range(reads)]
                cold, writes = [], []
                for i in range(200):
                    body = {"description": f"changed {i}"}
                    patch = f"{proc.url}/api/models/bench-{i}"
                    writes.append(await timed(http, "PATCH", patch, json=body))
                    cold.append(await timed(http, "GET", url))
        finally:
            await proc.kill()
    print(f"/v1/models?type=chat with {listed} models listed ({models} registered + seed)")
    for label, samples in (("cached read", warm), ("read after a write", cold),
                           ("PATCH /api/models/{id}", writes)):  # fmt: skip
        print(
            f"  {label:<24} p50 {pct(samples, 0.5):6.2f} ms  p99 {pct(samples, 0.99):6.2f} ms"
            f"  mean {statistics.mean(samples) * 1000:6.2f} ms  (n={len(samples)})"
        )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", type=int, default=1000)
    parser.add_argument("--reads", type=int, default=2000)
    args = parser.parse_args()
    asyncio.run(main(args.models, args.reads))
