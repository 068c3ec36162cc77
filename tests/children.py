"""Child processes whose output tests read line by line (Node clients, the CLI).

``Child`` collects stdout and stderr as they arrive, so a test waits for a line or an
event with a timeout instead of sleeping.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent
TEST_CLIENTS = ROOT / "test_clients"
NODE = shutil.which("node")
TOKEN = "interop-secret"
#: CI sets ``CI=true`` (GitHub Actions, GitLab, most others): there nothing may be skipped.
IN_CI = os.environ.get("CI", "").strip().lower() in ("true", "1", "yes")


def needs_tool(missing: bool, reason: str) -> pytest.MarkDecorator:
    """Skip a test whose tool is ``missing`` on a developer machine; fail it in CI.

    A CI run that skips the interop tests would go green without testing them, so
    there a missing tool is a failure (``pytest_runtest_setup`` in conftest.py).
    """
    if not missing:
        return pytest.mark.skipif(False, reason=reason)
    if IN_CI:
        return pytest.mark.missing_tool(reason)
    return pytest.mark.skip(reason=reason)


def require_npm_packages() -> None:
    """With node present, missing packages are a set-up error, not a reason to skip."""
    if not (TEST_CLIENTS / "node_modules" / "socket.io-client").is_dir():
        pytest.fail(f"run `npm ci` in {TEST_CLIENTS} first (scripts/test does)")


class Child:
    """A child process whose stdout and stderr lines are collected as they arrive."""

    def __init__(self, proc: asyncio.subprocess.Process) -> None:
        self.proc = proc
        self.out: list[str] = []
        self.err: list[str] = []
        self._changed = asyncio.Condition()
        assert proc.stdout is not None and proc.stderr is not None
        self._pumps = [
            asyncio.create_task(self._pump(proc.stdout, self.out)),
            asyncio.create_task(self._pump(proc.stderr, self.err)),
        ]

    @classmethod
    async def start(
        cls, *args: str, env: dict[str, str] | None = None, stdin: Any = asyncio.subprocess.DEVNULL
    ) -> Child:
        proc = await asyncio.create_subprocess_exec(
            *args,
            stdin=stdin,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            env=env,
            cwd=ROOT,
        )
        return cls(proc)

    async def _pump(self, stream: asyncio.StreamReader, lines: list[str]) -> None:
        while raw := await stream.readline():
            async with self._changed:
                lines.append(raw.decode(errors="replace").rstrip("\n"))
                self._changed.notify_all()
        async with self._changed:
            self._changed.notify_all()

    async def until(self, predicate: Callable[[], bool], *, timeout: float = 10) -> None:
        """Wait until ``predicate()`` holds, re-checked whenever a line arrives."""
        try:
            async with asyncio.timeout(timeout), self._changed:
                await self._changed.wait_for(lambda: predicate() or self.ended)
        except TimeoutError:
            raise AssertionError(f"not within {timeout}s\n{self.transcript()}") from None
        assert predicate(), f"exited first\n{self.transcript()}"

    async def wait_line(
        self, predicate: Callable[[str], bool], *, err: bool = False, timeout: float = 10
    ) -> str:
        """The first line (stdout, or stderr with ``err``) that matches ``predicate``."""
        lines = self.err if err else self.out

        def found() -> str | None:
            return next((line for line in lines if predicate(line)), None)

        await self.until(lambda: found() is not None, timeout=timeout)
        return found()  # type: ignore[return-value]

    async def wait_event(
        self, event: str, where: Callable[[Any], bool] | None = None, *, timeout: float = 10
    ) -> Any:
        """The data of the first JSON line ``{"event": event, ...}`` matching ``where``."""

        def matches(line: str) -> bool:
            record = json_line(line)
            return (
                record is not None
                and record.get("event") == event
                and (where is None or where(record.get("data")))
            )

        return json_line(await self.wait_line(matches, timeout=timeout))["data"]  # type: ignore[index]

    @property
    def ended(self) -> bool:
        return all(pump.done() for pump in self._pumps)

    def events(self, name: str | None = None) -> list[tuple[str, Any]]:
        records = [r for r in map(json_line, self.out) if r is not None and "event" in r]
        return [(r["event"], r["data"]) for r in records if name is None or r["event"] == name]

    async def wait(self, timeout: float = 20) -> int:
        """The exit code, once the process has ended and its output is read."""
        try:
            async with asyncio.timeout(timeout):
                code = await self.proc.wait()
                await asyncio.gather(*self._pumps)
        except TimeoutError:
            raise AssertionError(f"still running after {timeout}s\n{self.transcript()}") from None
        return code

    def signal(self, signum: int) -> None:
        self.proc.send_signal(signum)

    async def close(self) -> None:
        if self.proc.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                self.proc.kill()
        await self.proc.wait()
        await asyncio.gather(*self._pumps, return_exceptions=True)

    def transcript(self) -> str:
        return (
            "--- stdout\n"
            + "\n".join(self.out[-40:])
            + "\n--- stderr\n"
            + "\n".join(self.err[-40:])
        )


def json_line(line: str) -> dict[str, Any] | None:
    try:
        value = json.loads(line)
    except ValueError:
        return None
    return value if isinstance(value, dict) else None
