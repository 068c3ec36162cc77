"""The operating-system side of supervision: port probes, group signals, exit causes,
and pid files that let a restarted server end children a killed one left behind."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import time
from pathlib import Path

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


def _start_time(pid: int) -> str | None:
    """The process's start time in clock ticks (``/proc/<pid>/stat`` field 22), which
    tells a live child from an unrelated process that reused its pid."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return stat.rsplit(")", 1)[1].split()[19]


def record_child(pidfile: Path, pid: int) -> None:
    """Note a running child (pid and start time) beside its log."""
    start = _start_time(pid)
    if start is not None:
        pidfile.write_text(f"{pid} {start}\n")


def forget_child(pidfile: Path) -> None:
    pidfile.unlink(missing_ok=True)


def _take_pidfile(pidfile: Path) -> tuple[int, str] | None:
    """Read and remove a pid file: ``(pid, start time)``, or None if absent or garbled."""
    try:
        pid_text, start = pidfile.read_text().split()
        return int(pid_text), start
    except (OSError, ValueError):
        return None
    finally:
        forget_child(pidfile)


async def end_leftover(pidfile: Path, grace: float) -> str | None:
    """End the child a previous server recorded if it is still that same process.

    A server killed with SIGKILL runs no cleanup, and its children live on in their
    own sessions holding their ports; the next start would only see "port in use".
    Returns what was done, for the process's log, or None if there was nothing to do.
    """
    recorded = _take_pidfile(pidfile)
    if recorded is None:
        return None
    pid, start = recorded
    if _start_time(pid) != start:
        return None
    signal_group(pid, signal.SIGTERM)
    deadline = time.monotonic() + grace
    while _start_time(pid) == start and time.monotonic() < deadline:  # noqa: ASYNC110
        await asyncio.sleep(0.05)  # no event tells us when an unrelated process exits
    if _start_time(pid) == start:
        signal_group(pid, signal.SIGKILL)
        return f"ended pid {pid} left running by a previous server (SIGKILL)"
    return f"ended pid {pid} left running by a previous server (SIGTERM)"
