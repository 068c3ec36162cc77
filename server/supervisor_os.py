"""The operating-system side of supervision: port probes, group signals, exit causes."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal

PROBE_TIMEOUT = 1.0


async def port_answers(host: str, port: int, timeout: float = PROBE_TIMEOUT) -> bool:
    """Whether something accepts TCP connections on ``host:port``."""
    try:
        async with asyncio.timeout(timeout):
            _, writer = await asyncio.open_connection(host, port)
    except (OSError, TimeoutError):
        return False
    writer.close()
    with contextlib.suppress(OSError):
        await writer.wait_closed()
    return True


def signal_group(pgid: int, sig: signal.Signals) -> None:
    """Signal every process of a group; a group already gone is not an error."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, sig)


def describe_exit(code: int | None) -> str:
    """``exited with code 3`` or ``was killed by SIGKILL`` (asyncio gives -signal)."""
    if code is not None and code < 0:
        try:
            return f"was killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"was killed by signal {-code}"
    return f"exited with code {code}"
