"""Running modeldeck as a real process, for tests about signals, restarts and kills."""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import sys
from pathlib import Path

import aiohttp


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class ServerProcess:
    """``python -m server serve`` in a child process, on a free port."""

    def __init__(
        self, db: Path, *args: str, env: dict[str, str] | None = None, port: int | None = None
    ) -> None:
        self.db = db
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.args = args
        self.env = {**os.environ, **(env or {})}
        self.proc: asyncio.subprocess.Process | None = None
        self.log = db.with_suffix(".log")

    def command(self) -> list[str]:
        return [sys.executable, "-m", "server", "serve", "--port", str(self.port),
                "--db", str(self.db), "--log-level", "INFO", *self.args]  # fmt: skip

    async def start(self, timeout: float = 15.0) -> None:
        with self.log.open("ab") as log:
            self.proc = await asyncio.create_subprocess_exec(
                *self.command(), stdout=log, stderr=log, env=self.env
            )
        async with asyncio.timeout(timeout), aiohttp.ClientSession() as http:
            while True:
                if self.proc.returncode is not None:
                    raise RuntimeError(f"server exited: {self.log.read_text()[-2000:]}")
                with contextlib.suppress(aiohttp.ClientError):
                    async with http.get(self.url + "/health") as resp:
                        if resp.status == 200:
                            return
                await asyncio.sleep(0.05)

    async def signal(self, signum: int) -> None:
        assert self.proc is not None
        self.proc.send_signal(signum)

    async def wait(self, timeout: float) -> int:
        assert self.proc is not None
        return await asyncio.wait_for(self.proc.wait(), timeout)

    async def stop(self, timeout: float = 10.0) -> None:
        """SIGTERM and wait, as an operator stops it: its children are stopped too.

        (``kill`` is SIGKILL: the server's own children outlive it, by design.)
        """
        if self.proc is None or self.proc.returncode is not None:
            return
        self.proc.terminate()
        try:
            await asyncio.wait_for(self.proc.wait(), timeout)
        except TimeoutError:
            await self.kill()

    async def kill(self) -> None:
        if self.proc is not None and self.proc.returncode is None:
            self.proc.kill()
            await self.proc.wait()
