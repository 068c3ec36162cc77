"""Pull jobs another process runs, followed for this process's ``pull:<model>`` rooms.

A job runs in the process that created it (its row names the owner). That process
stores the job's progress every few tenths of a second while other processes share
the database; every other process reads those rows whenever the database changed
(``poll`` is a hook of the event-log tailer) and feeds a mirror of the job to a
``ProgressFanout`` of its own, so its subscribers see the same ``pull:progress``
(coalesced as the owner's are), then ``pull:complete``/``pull:error``. A job appears
here as soon as its row does, so a client that subscribed before the pull started, on
any process, follows it from its start.

The job's final row and its ``ollama:updated`` are one transaction, and the tailer
runs ``poll`` before it reads the log: ``pull:complete`` is written to the sockets
before ``ollama:updated`` reaches the bus, the same order as in the owner's process.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from dataclasses import dataclass, field

from server.ollama.jobs import PullJob
from server.ollama.progress import COMPLETE, ERROR, ProgressFanout
from server.realtime.hub import SocketHub
from storage import pull_jobs
from storage.clock import utc_now_iso
from storage.database import Database
from storage.pull_jobs import PullJobRow

log = logging.getLogger("modeldeck.pulls")


@dataclass(eq=False)
class Followed:
    """One job another process runs, as this process follows it."""

    job: PullJob
    fanout: ProgressFanout
    #: Set when the job ended (or can no longer be followed).
    ended: asyncio.Event = field(default_factory=asyncio.Event)


class RemoteJobs:
    """Mirrors of the jobs other processes run. One event loop; not thread-safe."""

    def __init__(self, db: Database, hub: SocketHub, owner: str) -> None:
        self.db = db
        self.hub = hub
        self.owner = owner
        self._jobs: dict[str, Followed] = {}
        self._closed = False
        # Rows of other processes written at or after this are read at the next look:
        # a job that began and ended between two looks is still announced once.
        self._since = utc_now_iso()
        # Jobs whose end was announced, by id: their final updated_at (their final row
        # is read again while it is the newest seen).
        self._announced: dict[str, str] = {}

    async def close(self) -> None:
        """Stop following (``poll`` does nothing after this); let final events go out."""
        self._closed = True
        jobs, self._jobs = list(self._jobs.values()), {}
        for followed in jobs:
            followed.ended.set()
            await followed.fanout.wait_closed(timeout=0.1)

    def get(self, job_id: str) -> PullJob | None:
        found = self._jobs.get(job_id)
        return found.job if found is not None else None

    def follow(self, row: PullJobRow) -> PullJob:
        """The mirror of an active job another process runs (created on first sight),
        brought up to ``row`` when that was read after the mirror's last update."""
        followed = self._follow(row)
        job = followed.job
        if row.status in pull_jobs.ACTIVE_STATUSES and (row.updated_at or "") > (
            job.updated_at or ""
        ):
            changed = job.refresh(row, time.monotonic())
            followed.fanout.changed(status_changed=changed)
        return job

    def _follow(self, row: PullJobRow) -> Followed:
        found = self._jobs.get(row.id)
        if found is None:
            job = PullJob.from_row(row)
            found = self._jobs[row.id] = Followed(job, ProgressFanout(self.hub, job))
        return found

    async def until_ended(self, row: PullJobRow, timeout: float) -> PullJob:
        """Follow ``row``'s job until its process records an end (at most ``timeout``
        seconds); the mirror as it then is."""
        followed = self._follow(row)
        if not followed.job.status.finished:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(followed.ended.wait(), timeout)
        return followed.job

    async def poll(self) -> None:
        """Re-read the jobs other processes run; on every change of the database."""
        if self._closed:
            return
        try:
            await self._poll()
        except Exception:
            log.exception("could not read the pull jobs of other processes")

    async def _poll(self) -> None:
        rows = await pull_jobs.others_and(self.db, self.owner, list(self._jobs), self._since)
        now = time.monotonic()
        for row in rows:
            if row.id not in self._jobs:
                if row.owner == self.owner or row.id in self._announced:
                    continue
                followed = self._follow(row)
                if followed.job.status.finished:  # it began and ended since the last look
                    await self._ended(followed)
                continue
            followed = self._jobs[row.id]
            job = followed.job
            if row.updated_at == job.updated_at and row.status == job.status.value:
                continue
            changed = job.refresh(row, now)
            if job.status.finished:
                await self._ended(followed)
            else:
                followed.fanout.changed(status_changed=changed)
        seen = {row.id for row in rows}
        for job_id in [j for j in self._jobs if j not in seen]:  # pruned: nothing to tell
            self._jobs.pop(job_id).ended.set()
        # Move the mark up to the newest row read; keep the ids announced at that instant.
        newest = max((row.updated_at or "" for row in rows), default="")
        if newest > self._since:
            self._since = newest
            self._announced = {i: t for i, t in self._announced.items() if t >= newest}

    async def _ended(self, followed: Followed) -> None:
        job = followed.job
        self._announced[job.id] = job.updated_at or ""  # told once, never taken for new
        await followed.fanout.finish(COMPLETE if job.status.value == "completed" else ERROR)
        self._jobs.pop(job.id, None)
        followed.ended.set()
