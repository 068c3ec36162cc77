"""Processes a test run leaves behind: found, killed and named at the end of the run.

The test process makes itself a child subreaper (Linux ``PR_SET_CHILD_SUBREAPER``):
a process whose parent dies (a proxy child of a server that was SIGKILLed, a helper
of a killed helper) is re-parented to the test run rather than to init, so it stays
among the run's descendants and :func:`end_leftovers` finds it.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import sys

import psutil

PR_SET_CHILD_SUBREAPER = 36


def adopt_orphans() -> bool:
    """Become the reaper of orphaned descendants; False where the OS cannot."""
    if not sys.platform.startswith("linux"):
        return False
    libc = ctypes.CDLL(None, use_errno=True)
    return bool(libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) == 0)


def _describe(process: psutil.Process) -> str:
    try:
        command = " ".join(process.cmdline()).replace("\n", "\\n") or process.name()
    except psutil.Error:
        command = "?"
    return f"pid {process.pid}: {command[:200]}"


def end_leftovers(grace: float = 3.0) -> list[str]:
    """Kill every live descendant of this process; returns one line naming each.

    Zombies (ended, waiting to be reaped) are reaped and not counted: they hold no
    resources but a process-table slot.
    """
    me = psutil.Process()
    alive: list[psutil.Process] = []
    for child in me.children(recursive=True):
        with contextlib.suppress(psutil.Error):
            if child.status() == psutil.STATUS_ZOMBIE:
                _reap(child.pid)
            else:
                alive.append(child)
    named = [_describe(p) for p in alive]
    for process in alive:
        with contextlib.suppress(psutil.Error):
            process.terminate()
    _, still = psutil.wait_procs(alive, timeout=grace)
    for process in still:
        with contextlib.suppress(psutil.Error):
            process.kill()
    psutil.wait_procs(still, timeout=grace)
    for process in alive:
        _reap(process.pid)
    return named


def _reap(pid: int) -> None:
    with contextlib.suppress(ChildProcessError, OSError):
        os.waitpid(pid, os.WNOHANG)
