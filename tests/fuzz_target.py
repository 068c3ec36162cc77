"""modeldeck and the Ollama stand-in as real processes, for the schemathesis runs.

Schemathesis calls the server with blocking ``requests`` from the test's own thread, so
the server cannot live on that thread's event loop: it runs as ``python -m server
serve`` on a free port, like a user runs it. Used by ``tests/test_fuzz_openapi.py``
and ``bench/fuzz_openapi.py``; every process started here is stopped on exit.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from tests.processes import free_port

ROOT = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class Target:
    url: str
    token: str | None
    ollama_url: str
    log: Path

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"} if self.token else {}


def _wait_until_up(url: str, proc: subprocess.Popen[bytes], log: Path, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{proc.args!r} exited: {log.read_text()[-2000:]}")
        with contextlib.suppress(OSError, urllib.error.URLError):
            with urllib.request.urlopen(url, timeout=1) as resp:  # noqa: S310 - our own server
                if resp.status < 500:
                    return
        time.sleep(0.05)
    raise TimeoutError(f"{url} did not answer within {timeout}s")


@contextlib.contextmanager
def _process(command: list[str], log: Path, ready_url: str) -> Iterator[None]:
    with log.open("ab") as out:
        proc = subprocess.Popen(command, stdout=out, stderr=out, cwd=ROOT, env=dict(os.environ))
    try:
        _wait_until_up(ready_url, proc, log, timeout=20)
        yield
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@contextlib.contextmanager
def ollama_standin(workdir: Path) -> Iterator[str]:
    """The Ollama stand-in on a free port; yields its URL."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    command = [sys.executable, "-m", "tests.ollama_standin", "--port", str(port)]
    with _process(command, workdir / "ollama-standin.log", url + "/api/version"):
        yield url


@contextlib.contextmanager
def modeldeck(workdir: Path, *, token: str | None, ollama_url: str) -> Iterator[Target]:
    """``modeldeck serve`` on a free port with a fresh database (seeded, as on first start).

    The proxy supervisor's processes are left unstarted; ``/api/proxy/start`` starts
    modeldeck's own router on another free port, as it would for a user.
    """
    workdir.mkdir(parents=True, exist_ok=True)
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    log = workdir / "modeldeck.log"
    command = [sys.executable, "-m", "server", "serve", "--port", str(port),
               "--db", str(workdir / "modeldeck.db"), "--ollama-url", ollama_url,
               "--router-port", str(free_port()), "--log-level", "warning"]  # fmt: skip
    if token is not None:
        command += ["--token", token]
    with _process(command, log, url + "/health"):
        yield Target(url, token, ollama_url, log)


def closed_port_url() -> str:
    """A loopback URL nothing listens on: Ollama "down", so its routes answer 503."""
    return f"http://127.0.0.1:{free_port()}"
