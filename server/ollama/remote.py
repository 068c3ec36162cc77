"""Pull jobs another process runs, followed for this process's ``pull:<model>`` rooms.

A job runs in the process that created it (its row names the owner). That process
stores the job's progress every few tenths of a second while other processes share
the database; here every other process reads those rows every ``interval`` and feeds
a mirror of the job to a ``ProgressFanout`` of its own, so its subscribers see the same
``pull:progress`` (coalesced as the owner's are), then ``pull:complete``/``pull:error``.
A job appears here as soon as its row does, so a client that subscribed before the pull
started, on any process, follows it from its start.

The job's final ``ollama:updated`` reaches this process through the event log, on its
own path: a subscriber here may see it just before ``pull:complete``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time

from server.ollama.jobs import PullJob
from server.ollama.progress import COMPLETE, ERROR, ProgressFanout
from server.realtime.hub import SocketHub
from storage import pull_jobs
from storage.database import Database
from storage.pull_jobs import PullJobRow

log = logging.getLogger("modeldeck.pulls")

POLL_INTERVAL = 0.1


class RemoteJobs:
    """Mirrors of the jobs other processes run. One event loop; not thread-safe."""

    def __init__(
        self, db: Database, hub: SocketHub, owner: str, interval: float = POLL_INTERVAL
    ) -> None:
        self.db = db
        self.hub = hub
        self.owner = owner
        self.interval = interval
        self._jobs: dict[str, tuple[PullJob, ProgressFanout]] = {}
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="remote-pulls")

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        for _, fanout in self._jobs.values():
            await fanout.wait_closed(timeout=0.1)
        self._jobs.clear()

    def get(self, job_id: str) -> PullJob | None:
        found = self._jobs.get(job_id)
        return found[0] if found is not None else None

    def follow(self, row: PullJobRow) -> PullJob:
        """The mirror of an active job another process runs (created on first sight)."""
        found = self._jobs.get(row.id)
        if found is not None:
            return found[0]
        job = PullJob.from_row(row)
        self._jobs[row.id] = (job, ProgressFanout(self.hub, job))
        return job

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self.interval)
            try:
                await self.poll()
            except Exception:
                log.exception("could not read the pull jobs of other processes")

    async def poll(self) -> None:
        rows = await pull_jobs.others_and(self.db, self.owner, list(self._jobs))
        now = time.monotonic()
        for row in rows:
            if row.id not in self._jobs:
                if row.owner != self.owner:
                    self.follow(row)
                continue
            job, fanout = self._jobs[row.id]
            if row.updated_at == job.updated_at and row.status == job.status.value:
                continue
            changed = job.refresh(row, now)
            if job.status.finished:
                fanout.finish(COMPLETE if row.status == "completed" else ERROR)
                del self._jobs[row.id]
            else:
                fanout.changed(status_changed=changed)
        seen = {row.id for row in rows}
        for job_id in [j for j in self._jobs if j not in seen]:  # pruned: nothing to tell
            del self._jobs[job_id]
