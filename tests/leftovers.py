"""Processes a test run leaves behind: found, killed and named at the end of the run.

A process started by a test may outlive its parent (a proxy child of a server that
was SIGKILLed, the helper of a killed helper) and be re-parented to init, so the
run's descendants are not enough to find it. :func:`mark_run` puts a token in this
process's environment, which every child inherits (the test helpers and the proxy
supervisor pass ``os.environ`` on); :func:`end_leftovers` finds live processes that
carry it, plus any descendant that does not.
"""

from __future__ import annotations

import contextlib
import os
import secrets

import psutil

MARKER = "LEFTOVER_CHECK_TOKEN"


def mark_run() -> str:
    """Tag this run's future children (a nested run gets its own token)."""
    token = f"{os.getpid()}-{secrets.token_hex(8)}"
    os.environ[MARKER] = token
    return token


def _carries(process: psutil.Process, token: str) -> bool:
    try:
        return process.environ().get(MARKER) == token
    except (psutil.Error, OSError):
        return False  # gone, or another user's process


def _describe(process: psutil.Process) -> str:
    try:
        command = " ".join(process.cmdline()).replace("\n", "\\n") or process.name()
    except psutil.Error:
        command = "?"
    return f"pid {process.pid}: {command[:200]}"


def leftovers(token: str) -> list[psutil.Process]:
    """Live processes of this run other than this process itself."""
    me = os.getpid()
    found = {p.pid: p for p in psutil.Process().children(recursive=True)}
    for process in psutil.process_iter():
        if process.pid != me and process.pid not in found and _carries(process, token):
            found[process.pid] = process
    alive = []
    for process in found.values():
        with contextlib.suppress(psutil.Error):
            if process.status() != psutil.STATUS_ZOMBIE:
                alive.append(process)
    return sorted(alive, key=lambda p: p.pid)


def end_leftovers(token: str, grace: float = 3.0) -> list[str]:
    """Terminate (then kill) this run's leftover processes; one line naming each."""
    alive = leftovers(token)
    named = [_describe(p) for p in alive]
    for process in alive:
        with contextlib.suppress(psutil.Error):
            process.terminate()
    _, still = psutil.wait_procs(alive, timeout=grace)
    for process in still:
        with contextlib.suppress(psutil.Error):
            process.kill()
    psutil.wait_procs(still, timeout=grace)
    return named
