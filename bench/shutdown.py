"""How long SIGTERM takes to stop modeldeck with N websocket clients connected.

    .venv/bin/python bench/shutdown.py [--clients 1000] [--restart]

With ``--restart`` the clients keep socket.io-client's default reconnection, the
server is started again on the same port and database, and the time until every
client is connected again is printed too.

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


async def main(clients: int, restart: bool) -> None:
    with tempfile.TemporaryDirectory() as scratch:
        server = ServerProcess(Path(scratch) / "bench.db", "--log-level", "WARNING")
        await server.start()
        holder = await asyncio.create_subprocess_exec(
            "node", str(ROOT / "bench/hold_clients.mjs"), server.url, str(clients),
            *(["reconnect"] if restart else []),
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
        if restart:
            again = ServerProcess(server.db, "--log-level", "WARNING", port=server.port)
            await again.start()
            ready = time.monotonic()
            try:
                back = await asyncio.wait_for(holder.stdout.readline(), 60)
                now = time.monotonic()
                print(
                    f"restarted; {back.decode().strip()} {now - started:.2f} s after the "
                    f"SIGTERM, {now - ready:.2f} s after the new process was ready"
                )
            except TimeoutError:
                print("restarted; the clients were not all back within 60 s")
            finally:
                await again.kill()
        holder.kill()
        await holder.wait()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=1000)
    parser.add_argument("--restart", action="store_true", help="restart; time the reconnects")
    args = parser.parse_args()
    asyncio.run(main(args.clients, args.restart))
