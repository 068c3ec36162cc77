"""How long SIGTERM takes to stop modeldeck with N websocket clients connected.

    .venv/bin/python bench/shutdown.py [--clients 1000]

Needs ``npm ci`` in test_clients (socket.io-client). Prints figures; asserts nothing.
"""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from tests.processes import ServerProcess  # noqa: E402


async def main(clients: int) -> None:
    with tempfile.TemporaryDirectory() as scratch:
        server = ServerProcess(Path(scratch) / "bench.db", "--log-level", "WARNING")
        await server.start()
        holder = await asyncio.create_subprocess_exec(
            "node", str(ROOT / "bench/hold_clients.mjs"), server.url, str(clients),
            stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
        )  # fmt: skip
        assert holder.stdout is not None
        line = await asyncio.wait_for(holder.stdout.readline(), 120)
        print(line.decode().strip(), "clients")
        started = time.monotonic()
        await server.signal(signal.SIGTERM)
        code = await server.wait(60)
        stopped = time.monotonic() - started
        told = await asyncio.wait_for(holder.stdout.readline(), 10)
        print(f"SIGTERM → exit {code} in {stopped:.2f} s; clients: {told.decode().strip()}")
        holder.kill()
        await holder.wait()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=1000)
    asyncio.run(main(parser.parse_args().clients))
