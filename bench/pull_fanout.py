"""One pull watched by 500 dashboards: modeldeck's CPU, event rate and lag.

Starts the Ollama stand-in as a subprocess (streaming ``--lines-per-second`` progress
lines, sized so the pull lasts about ``--seconds``), ``modeldeck serve`` as another,
pointed at it, and ``--clients`` python-socketio clients in this process that each
``pull:subscribe`` to the model's room. Then one REST ``POST /api/ollama/pulls`` and
wait until every client has its ``pull:complete``. Reports:

- CPU seconds modeldeck spent per second of pull (``/proc/<pid>/stat``), beside its
  idle cost with the same clients connected;
- ``pull:progress`` events delivered per client per second;
- lag from the stand-in yielding a progress line to a client's handler running with
  the event that carries it, p50/p99 (CLOCK_MONOTONIC is one clock for all processes
  on Linux). The clients' own work is included: 500 Python clients in one process
  take a while to get through each broadcast, so the p99 is mostly theirs.

    .venv/bin/python bench/pull_fanout.py [--clients 500] [--lines-per-second 200]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import resource
import signal
import statistics
import sys
import tempfile
import time
from collections.abc import AsyncGenerator
from pathlib import Path
from typing import Any

import aiohttp
import socketio

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from tests.ollama_standin import OllamaStandin
from tests.processes import ServerProcess, free_port

MODEL = "tinyllama:latest"
BIG_LAYER = 637_699_456  # tinyllama's weights: the pull is essentially this blob
TICK = os.sysconf("SC_CLK_TCK")


class TimedStandin(OllamaStandin):
    """The stand-in, noting when it yielded each progress line of each layer."""

    def __init__(self, **kw: Any) -> None:
        super().__init__(**kw)
        self.sent: dict[tuple[str, int], float] = {}
        self.lines = 0

    async def _pull_events(self, key: str) -> AsyncGenerator[Any, None]:
        async with contextlib.aclosing(super()._pull_events(key)) as events:
            async for event in events:
                if isinstance(event, dict) and "digest" in event:
                    self.lines += 1
                    mark = (event["digest"], event.get("completed", 0))
                    self.sent.setdefault(mark, time.monotonic())
                yield event


class Watcher:
    """One dashboard: subscribed to the pull's room, noting what arrives and when."""

    def __init__(self) -> None:
        self.sio = socketio.AsyncClient(reconnection=False)
        self.progress: list[tuple[float, dict[str, Any]]] = []
        self.done = asyncio.Event()
        self.sio.on("pull:progress", self._progress)
        self.sio.on("pull:complete", self._complete)

    async def _progress(self, data: dict[str, Any]) -> None:
        self.progress.append((time.monotonic(), data))

    async def _complete(self, data: dict[str, Any]) -> None:
        self.done.set()

    async def start(self, url: str) -> None:
        await self.sio.connect(url, transports=["websocket"], wait_timeout=20)
        ack = await self.sio.call("pull:subscribe", {"model": MODEL}, timeout=20)
        assert ack is None or "error" not in ack, ack


async def serve_standin(port: int, lines_per_second: float, seconds: float) -> dict[str, Any]:
    """The stand-in alone (``--standin-only``); on SIGTERM, returns its line times."""
    standin = TimedStandin(
        installed=[], lines_per_second=lines_per_second, bytes_per_second=BIG_LAYER / seconds
    )
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    await standin.start(port=port)
    print("ready", flush=True)
    await stop.wait()
    await standin.stop()
    sent = [[digest, completed, at] for (digest, completed), at in standin.sent.items()]
    return {"lines": standin.lines, "sent": sent}


def cpu_seconds(pid: int) -> float:
    """utime + stime of a process, from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK


def pct(samples: list[float], p: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(len(ordered) * p))]


async def run(clients: int, lines_per_second: float, seconds: float) -> None:
    with tempfile.TemporaryDirectory() as scratch:
        port, timings = free_port(), Path(scratch) / "standin.json"
        standin = await asyncio.create_subprocess_exec(
            sys.executable, __file__, "--standin-only", "--port", str(port), "--out",
            str(timings), "--lines-per-second", str(lines_per_second), "--seconds",
            str(seconds), stdout=asyncio.subprocess.PIPE,
        )  # fmt: skip
        assert standin.stdout is not None
        assert (await standin.stdout.readline()).strip() == b"ready"
        proc = ServerProcess(
            Path(scratch) / "bench.db",
            "--ollama-url", f"http://127.0.0.1:{port}", "--log-level", "WARNING",
        )  # fmt: skip
        await proc.start()
        assert proc.proc is not None
        pid = proc.proc.pid
        watchers = [Watcher() for _ in range(clients)]
        try:
            for batch in range(0, clients, 50):
                await asyncio.gather(*(w.start(proc.url) for w in watchers[batch : batch + 50]))
            idle_from, idle_cpu = time.monotonic(), cpu_seconds(pid)
            await asyncio.sleep(3)
            idle = (cpu_seconds(pid) - idle_cpu) / (time.monotonic() - idle_from)

            bench_cpu = resource.getrusage(resource.RUSAGE_SELF)
            cpu_before, started = cpu_seconds(pid), time.monotonic()
            async with (
                aiohttp.ClientSession() as http,
                http.post(f"{proc.url}/api/ollama/pulls", json={"model": MODEL}) as response,
            ):
                assert response.status == 202, await response.text()
            await asyncio.wait_for(
                asyncio.gather(*(w.done.wait() for w in watchers)), timeout=seconds * 4 + 30
            )
            duration = time.monotonic() - started
            cpu = cpu_seconds(pid) - cpu_before
            after = resource.getrusage(resource.RUSAGE_SELF)
            bench_used = (after.ru_utime - bench_cpu.ru_utime) + (
                after.ru_stime - bench_cpu.ru_stime
            )
        finally:
            for watcher in watchers:
                with contextlib.suppress(Exception):
                    await watcher.sio.disconnect()
            await proc.kill()
            standin.send_signal(signal.SIGTERM)
            await asyncio.wait_for(standin.wait(), 10)
        recorded = json.loads(timings.read_bytes())
    sent = {(digest, completed): at for digest, completed, at in recorded["sent"]}
    lines = recorded["lines"]

    counts = [len(w.progress) for w in watchers]
    lags = [
        arrived - sent[(event["digest"], event["completed"])]
        for w in watchers
        for arrived, event in w.progress
        if event["status"] == "downloading" and (event["digest"], event["completed"]) in sent
    ]
    print(f"pull of {MODEL} watched by {clients} clients (stand-in {lines_per_second:g} lines/s)")
    print(f"  pull duration            {duration:6.2f} s, stand-in progress lines {lines}"
          f" ({lines / duration:.0f}/s)")  # fmt: skip
    print(f"  modeldeck CPU            {cpu:6.2f} s = {100 * cpu / duration:5.1f} % of one core"
          f" during the pull (idle with {clients} clients: {100 * idle:4.1f} %)")  # fmt: skip
    print(f"  pull:progress per client {statistics.mean(counts) / duration:6.2f} /s"
          f" (min {min(counts)}, max {max(counts)} events per client)")  # fmt: skip
    print(f"  total delivered          {sum(counts) / duration:8.0f} events/s")
    if lags:
        print(f"  lag line -> client       p50 {1000 * pct(lags, 0.5):6.1f} ms"
              f"  p99 {1000 * pct(lags, 0.99):6.1f} ms  (n={len(lags)})")  # fmt: skip
    print(f"  client process CPU       {bench_used / duration:6.2f} cores ({clients} clients)")
    print(f"  machine                  {os.cpu_count()} CPUs")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=500)
    parser.add_argument("--lines-per-second", type=float, default=200)
    parser.add_argument("--seconds", type=float, default=10, help="pull length to aim for")
    parser.add_argument("--standin-only", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, default=0, help=argparse.SUPPRESS)
    parser.add_argument("--out", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    try:
        import uvloop

        uvloop.install()
    except ImportError:
        pass
    if args.standin_only:
        timings = asyncio.run(serve_standin(args.port, args.lines_per_second, args.seconds))
        args.out.write_text(json.dumps(timings))
    else:
        asyncio.run(run(args.clients, args.lines_per_second, args.seconds))
