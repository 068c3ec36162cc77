"""Chromium driven by a Node script over stdin/stdout, for the browser tests.

``browser_check.mjs`` (the interop and drive-by tests) and ``dashboard_check.mjs`` (the
dashboard) speak the same line protocol: one JSON command per line, one JSON reply per
line, ``{"ready": true}`` first. ``open_browser`` starts either and closes it after.
"""

from __future__ import annotations

import json
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, TypeVar

from tests.children import NODE, ROOT, TEST_CLIENTS, Child, needs_tool, require_npm_packages

CHROMIUM = Path("/usr/bin/chromium")
LIBRARY = TEST_CLIENTS / "node_modules" / "socket.io-client" / "dist" / "socket.io.min.js"

T = TypeVar("T")
B = TypeVar("B", bound="Browser")


def needs_browser(test: T) -> T:
    """Skip only when node or Debian's chromium is truly absent; in CI that fails instead."""
    test = needs_tool(NODE is None, "node is not installed (CI installs it)")(test)
    return needs_tool(
        not os.access(CHROMIUM, os.X_OK),
        f"{CHROMIUM} is not installed (scripts/test installs Debian's chromium)",
    )(test)


class Browser:
    """Chromium behind ``browser_check.mjs``: one command, one JSON reply."""

    def __init__(self, child: Child) -> None:
        self.child = child
        self._replies = 0

    async def _reply(self, timeout: float) -> dict[str, Any]:
        index = self._replies
        await self.child.until(lambda: len(self.child.out) > index, timeout=timeout)
        self._replies += 1
        reply: dict[str, Any] = json.loads(self.child.out[index])
        return reply

    async def do(self, cmd: str, timeout: float = 15, **args: Any) -> dict[str, Any]:
        stdin = self.child.proc.stdin
        assert stdin is not None
        stdin.write((json.dumps({"cmd": cmd, **args}) + "\n").encode())
        await stdin.drain()
        reply = await self._reply(timeout)
        assert reply["ok"], f"{cmd} {args}: {reply}\n{self.child.transcript()}"
        return reply


@asynccontextmanager
async def open_browser(script: str, kind: type[B]) -> AsyncIterator[B]:
    """Start ``tests/<script>`` with Chromium behind it; closed (exit 0 checked) after."""
    require_npm_packages()
    child = await Child.start(NODE or "node", str(ROOT / "tests" / script), stdin=-1)
    try:  # stdin=-1: a pipe for the commands
        chromium = kind(child)
        ready = await chromium._reply(timeout=30)
        assert ready.get("ready"), f"{ready}\n{child.transcript()}"
        yield chromium
        await chromium.do("close")
        assert await child.wait(10) == 0, child.transcript()
    finally:
        await child.close()
