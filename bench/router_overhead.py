"""What the router adds: latency of plain chat completions and time to first stream chunk.

Starts ``modeldeck serve`` (which supervises ``modeldeck router``) and the OpenAI
stand-in as separate processes on a scratch database, registers the stand-in as a
provider, then runs the same load twice at ``--clients`` concurrent clients: straight
at the stand-in, and through the router. Each client sends its requests one after
another (a closed loop). The stand-in waits ``--latency`` seconds before answering,
as a provider would, so the load is not pure router saturation. Prints figures;
asserts nothing.

    .venv/bin/python bench/router_overhead.py [--clients 50] [--requests 20] [--rounds 4]
        [--latency 0.05] [--chunk-interval 0.005]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import statistics
import sys
import tempfile
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from tests.openai_standin import free_port

KEY = "sk-bench-upstream-key"
MESSAGE = "count to twenty for me: " + " ".join(str(i) for i in range(1, 21))


def pct(samples: list[float], p: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(len(ordered) * p))] * 1000


@contextlib.asynccontextmanager
async def child(*args: str) -> AsyncIterator[asyncio.subprocess.Process]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, *args, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.DEVNULL
    )
    try:
        yield proc
    finally:
        if proc.returncode is None:
            proc.terminate()
        await proc.wait()


async def until_ok(
    http: aiohttp.ClientSession, url: str, contains: str = "", timeout: float = 30
) -> None:
    """Poll ``url`` until it answers 200 with ``contains`` in its body."""
    async with asyncio.timeout(timeout):
        while True:
            with contextlib.suppress(aiohttp.ClientError):
                async with http.get(url) as resp:
                    if resp.status == 200 and contains in await resp.text():
                        return
            await asyncio.sleep(0.05)


async def one(
    http: aiohttp.ClientSession, url: str, body: dict[str, Any], headers: dict[str, str]
) -> tuple[float, float]:
    """(time to the first body chunk, time to the end of the response), in seconds."""
    started = time.perf_counter()
    first = 0.0
    async with http.post(url, json=body, headers=headers) as resp:
        assert resp.status == 200, await resp.text()
        async for _ in resp.content.iter_any():
            first = first or time.perf_counter() - started
    return first, time.perf_counter() - started


async def load(
    base: str, model: str, headers: dict[str, str], *, stream: bool, clients: int, requests: int
) -> tuple[list[float], list[float]]:
    body = {"model": model, "messages": [{"role": "user", "content": MESSAGE}], "stream": stream}
    url = f"{base}/chat/completions"
    firsts: list[float] = []
    totals: list[float] = []
    connector = aiohttp.TCPConnector(limit=0)
    async with aiohttp.ClientSession(connector=connector) as http:
        await one(http, url, body, headers)  # warm the connection pools

        async def client() -> None:
            for _ in range(requests):
                first, total = await one(http, url, body, headers)
                firsts.append(first)
                totals.append(total)

        await asyncio.gather(*(client() for _ in range(clients)))
    return firsts, totals


async def main(args: argparse.Namespace) -> None:
    clients, requests, rounds = args.clients, args.requests, args.rounds
    latency, jitter, interval = args.latency, args.jitter, args.chunk_interval
    with tempfile.TemporaryDirectory() as scratch:
        port, router_port = free_port(), free_port()
        standin_args = ["-m", "tests.openai_standin", "--port", "0", "--api-key", KEY,
                        "--latency", str(latency), "--jitter", str(jitter),
                        "--chunk-interval", str(interval)]  # fmt: skip
        serve_args = ["-m", "server", "serve", "--port", str(port), "--db", f"{scratch}/b.db",
                      "--router-port", str(router_port), "--proxy-autostart", "--no-seed",
                      "--log-level", "WARNING"]  # fmt: skip
        async with child(*standin_args) as standin, child(*serve_args):
            assert standin.stdout is not None
            upstream = (await standin.stdout.readline()).decode().split()[-1]
            api = f"http://127.0.0.1:{port}/api"
            router = f"http://127.0.0.1:{router_port}/v1"
            async with aiohttp.ClientSession() as http:
                await until_ok(http, f"{api}/proxy/status")
                provider = {"id": "standin", "name": "Standin", "sdkId": "standin",
                            "baseUrl": upstream, "apiKey": KEY}  # fmt: skip
                model = {"id": "bench", "name": "Bench", "providerId": "standin",
                         "sdkId": "standin:bench-model"}  # fmt: skip
                for path, body in (("providers", provider), ("models", model)):
                    async with http.post(f"{api}/{path}", json=body) as resp:
                        assert resp.status == 201, await resp.text()
                await until_ok(http, f"{router}/models", contains='"bench"')
                async with http.get(f"{api}/proxy/status") as resp:
                    router_pid = (await resp.json())["providerRouter"]["pid"]
            direct = {"Authorization": f"Bearer {KEY}"}
            print(f"{clients} clients x {requests} requests x {rounds} rounds; provider latency "
                  f"{latency * 1000:.0f} ms ± {jitter:.0%}, a chunk every "
                  f"{interval * 1000:.0f} ms")  # fmt: skip
            targets: dict[str, tuple[str, str, dict[str, str]]] = {
                "direct": (upstream, "bench-model", direct), "router": (router, "bench", {}),
            }  # fmt: skip
            for stream in (False, True):
                runs: dict[str, tuple[list[float], list[float]]] = {n: ([], []) for n in targets}
                # Alternate the order each round so a change in background load on the
                # machine falls on both sides alike.
                router_cpu = 0.0
                for round_ in range(rounds):
                    for name in sorted(targets, reverse=bool(round_ % 2)):
                        base, model_name, headers = targets[name]
                        cpu_before = cpu_seconds(router_pid)
                        firsts, totals = await load(base, model_name, headers, stream=stream,
                                                    clients=clients, requests=requests)  # fmt: skip
                        if name == "router":
                            router_cpu += cpu_seconds(router_pid) - cpu_before
                        runs[name][0].extend(firsts)
                        runs[name][1].extend(totals)
                report(stream, runs)
                served = len(runs["router"][1]) + rounds  # + one warm-up request per round
                print(f"  router CPU per request: {router_cpu / served * 1000:.3f} ms")


def cpu_seconds(pid: int) -> float:
    """User + system CPU time a process has used so far (Linux ``/proc``)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def report(stream: bool, runs: dict[str, tuple[list[float], list[float]]]) -> None:
    index = 0 if stream else 1  # first chunk for streams, whole response otherwise
    what = "time to first chunk (stream)" if stream else "latency (non-streaming)"
    rows = {name: samples[index] for name, samples in runs.items()}
    print(f"\n{what}, ms      p50      p99     mean")
    for name, samples in rows.items():
        print(f"  {name:<22}{pct(samples, 0.5):8.2f} {pct(samples, 0.99):8.2f} "
              f"{statistics.mean(samples) * 1000:8.2f}")  # fmt: skip
    d, r = rows["direct"], rows["router"]
    print(f"  {'added by the router':<22}{pct(r, 0.5) - pct(d, 0.5):8.2f} "
          f"{pct(r, 0.99) - pct(d, 0.99):8.2f} "
          f"{(statistics.mean(r) - statistics.mean(d)) * 1000:8.2f}")  # fmt: skip
    if stream:
        totals = {name: samples[1] for name, samples in runs.items()}
        print(f"  whole stream p50: direct {pct(totals['direct'], 0.5):.2f}, "
              f"router {pct(totals['router'], 0.5):.2f}")  # fmt: skip


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--requests", type=int, default=20, help="per client and round")
    parser.add_argument("--rounds", type=int, default=4, help="alternating direct/router runs")
    parser.add_argument("--latency", type=float, default=0.05, help="provider latency, s")
    parser.add_argument("--jitter", type=float, default=0.0, help="latency spread, 0..1")
    parser.add_argument("--chunk-interval", type=float, default=0.005, help="between chunks, s")
    args = parser.parse_args()
    asyncio.run(main(args))
