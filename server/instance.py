"""Which modeldeck process this is, among the several that may share one database.

``/health`` and ``/metrics`` name it, so behind a balancer one can tell which process
answered; pull jobs record it as their owner. ``id`` is new on every start (a pid may
be reused after a crash); ``name`` is for people: ``--process-name``, else ``host:pid``.

``Presence`` keeps the process's row in the ``instances`` table alive: a heartbeat every
``BEAT`` seconds. A process is gone when its pid no longer exists (one SQLite file is
served from one machine, so pids are comparable; this catches a SIGKILL at once) or its
heartbeat is older than ``ALIVE_FOR`` (a frozen process): after each beat the
``on_beat`` hooks run, so the others can fail the pull jobs it owned.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from storage import instances
from storage.clock import utc_now_iso
from storage.database import Database

log = logging.getLogger("modeldeck.instance")

#: Seconds between heartbeats, and how old one may be before its process counts as gone.
BEAT = 2.0
ALIVE_FOR = 6.0

OnBeat = Callable[[], Awaitable[None]]


@dataclass(frozen=True)
class Instance:
    name: str
    pid: int = field(default_factory=os.getpid)
    id: str = field(default_factory=lambda: uuid.uuid4().hex[:12])

    @classmethod
    def current(cls, name: str | None) -> Instance:
        pid = os.getpid()
        return cls(name=name or f"{socket.gethostname()}:{pid}", pid=pid)


class Presence:
    """This process's heartbeat in the shared database. One event loop."""

    def __init__(self, db: Database, instance: Instance, *, beat: float = BEAT) -> None:
        self.db = db
        self.instance = instance
        self.beat = beat
        self.alive_for = beat * ALIVE_FOR / BEAT
        self.on_beat: list[OnBeat] = []
        #: How many other live processes share the database (as of the last beat).
        self.peers = 0
        self._started_at = utc_now_iso()
        self._task: asyncio.Task[None] | None = None

    def alive_since(self) -> float:
        """Heartbeats at or after this time are of live processes."""
        return time.time() - self.alive_for

    async def live(self) -> list[str]:
        """The ids of the live processes sharing the database, this one's included."""
        rows = await instances.live(self.db, self.alive_since())
        return [self.instance.id] + [
            row.id for row in rows if row.id != self.instance.id and _pid_exists(row.pid)
        ]

    async def start(self) -> None:
        await self._beat()
        self._task = asyncio.create_task(self._run(), name="presence")

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        with contextlib.suppress(Exception):  # a dead row also ages out on its own
            async with self.db.transaction() as tx:
                await instances.remove(tx, self.instance.id)

    async def _beat(self) -> None:
        row = instances.InstanceRow(
            self.instance.id, self.instance.name, self.instance.pid, self._started_at, time.time()
        )
        async with self.db.transaction() as tx:
            await instances.beat(tx, row)
            gone = await instances.forget_dead(tx, self.alive_since())
        for instance_id in gone:
            log.warning("modeldeck process %s stopped beating: it is gone", instance_id)
        self.peers = len(await self.live()) - 1

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self.beat)
            try:
                await self._beat()
                for hook in self.on_beat:
                    await hook()
            except Exception:
                log.exception("heartbeat failed; retrying in %gs", self.beat)


def _pid_exists(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process: it exists
        return True
    return True
