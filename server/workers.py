"""``modeldeck serve --workers N``: N server processes sharing one port and one database.

The parent binds nothing: it checks that the port is free (a plain bind, so a port held
by anything, another modeldeck's workers included, is a one-line error), then starts N
copies of the same command with ``MODELDECK_WORKER=<n>``; each binds the port with
``SO_REUSEPORT`` and the kernel spreads new connections over them. Everything they
share goes through the database (``server.instance``, the event log tailer, pull jobs,
the supervision lease). A worker that dies is started again after a second; SIGTERM or
SIGINT to the parent is passed on to every worker, and the parent exits once they have.

Engine.io long-polling sends each request of a session as a new HTTP request, which
may reach another worker that does not know the session: with several workers,
clients must use the websocket transport (or a balancer with sticky sessions in front
of single-worker processes). See the README, "More than one process".
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import logging
import os
import signal
import socket
import subprocess
import sys
import time
from types import FrameType

log = logging.getLogger("modeldeck")

WORKER_ENV = "MODELDECK_WORKER"
RESTART_DELAY = 1.0
#: A worker failing sooner than this after its start is not restarted: it cannot start.
EARLY_FAILURE = 5.0
_PR_SET_PDEATHSIG = 1


def worker_index() -> int | None:
    """This process's worker number when started by ``--workers``, else None."""
    value = os.environ.get(WORKER_ENV)
    return int(value) if value and value.isdigit() else None


def port_in_use(host: str, port: int) -> str | None:
    """Why ``host:port`` cannot be bound (without SO_REUSEPORT), or None if it can."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as exc:
            return exc.strerror or str(exc)
    return None


def _end_with_parent() -> None:
    """In the worker, before exec: SIGTERM when the parent dies, even by SIGKILL (Linux)."""
    name = ctypes.util.find_library("c")
    if name is not None:
        ctypes.CDLL(name, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


def run_workers(count: int) -> int:
    """Start ``count`` workers running this same command; return the exit code."""
    command = [sys.executable, "-m", "server", *sys.argv[1:]]
    workers: dict[int, tuple[subprocess.Popen[bytes], float]] = {}
    stopping = False
    code = 0

    def start(index: int) -> None:
        proc = subprocess.Popen(
            command, env={**os.environ, WORKER_ENV: str(index)}, preexec_fn=_end_with_parent
        )
        workers[index] = (proc, time.monotonic())

    def stop(signum: int, _frame: FrameType | None) -> None:
        nonlocal stopping
        stopping = True
        for proc, _ in workers.values():
            with contextlib.suppress(ProcessLookupError):
                proc.send_signal(signal.SIGTERM)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    for index in range(1, count + 1):
        start(index)
    while workers:
        for index, (proc, started) in list(workers.items()):
            exited = proc.poll()
            if exited is None:
                continue
            del workers[index]
            if stopping:
                continue
            if exited != 0 and time.monotonic() - started < EARLY_FAILURE:
                log.error("worker %d could not start (exit code %s): stopping", index, exited)
                code = 1
                stop(signal.SIGTERM, None)
                continue
            log.error("worker %d (pid %d) exited with %s; starting it again",
                      index, proc.pid, exited)  # fmt: skip
            time.sleep(RESTART_DELAY)
            start(index)
        time.sleep(0.1)
    return code
