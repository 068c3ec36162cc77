"""The pull worker pool: a bounded number of workers run pull jobs first-in first-out.

Shaped like arq's ``Worker``: a job is one coroutine (stream ``/api/pull`` into the
job), the pool owns the limits — ``workers`` pulls at once, the rest wait ``queued``
with a visible position, one active job per model (a second request gets the same
job) — and close cancels running jobs and waits for them within a bound. There is no
total timeout per job (a 40 GB pull may take hours); the Ollama client fails a pull
whose stream goes silent. There is no automatic retry either: a failed job states
Ollama's message, and pulling again resumes from Ollama's partial blobs.

Jobs persist in SQLite (``storage.pull_jobs``): on creation, on each status change,
every ``persist_interval`` seconds of progress (``SHARED_PERSIST_INTERVAL`` while other
processes share the database, whose subscribers follow the job through its row:
``server.ollama.remote``), and at the end. A job that a dead process left active is
marked failed, at start-up and whenever a process sharing the database stops beating
(``server.instance``), not re-queued: a crash loop would otherwise re-pull forever, and
an admin may not want a big download to restart on its own; pulling again is one click
and resumes.

Across processes, one job per model: the job row is inserted under a unique index on
the model's active job, so of two processes asked at once exactly one creates (and then
runs) the job; the other answers with that job and follows it. A cancel asked through
another process is written on the job's row (``cancel_requested``); the process that
runs the job sees it on its next look at the database, cancels the job and records the
outcome, which the asking process waits for (at most ``REMOTE_CANCEL_WAIT`` seconds).

Cancelling a running job cancels its task, which closes the upstream request (Ollama
has no cancel call). Ollama may still finish a blob it shares with another client, so
after a cancel the installed list is re-read, and if the model turns out installed
(or changed), ``ollama:updated`` (pulled) goes out anyway.

All methods run on one event loop; ``submit``/``cancel`` may be called concurrently.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from server.errors import ResourceConflict, ResourceNotFound, Unavailable
from server.ollama.client import OllamaError, normalize_model_name
from server.ollama.jobs import PullJob, PullStatus
from server.ollama.progress import COMPLETE, ERROR, ProgressFanout, pull_key
from server.ollama.remote import RemoteJobs
from server.ollama.service import Listing, OllamaService
from server.realtime.hub import SocketHub
from storage import pull_jobs
from storage.database import Database
from storage.errors import Conflict

log = logging.getLogger("modeldeck.pulls")

RESTART_MESSAGE = "interrupted: modeldeck restarted during this pull; pull again to resume"
GONE_MESSAGE = (
    "interrupted: the modeldeck process running this pull stopped; pull again to resume"
)
SHARED_PERSIST_INTERVAL = 0.2
SHUTDOWN_MESSAGE = "interrupted: modeldeck shut down during this pull; pull again to resume"
#: How long a cancel asked through another process waits for the job's process to act.
REMOTE_CANCEL_WAIT = 10.0
CANCELLED_MESSAGE = "cancelled"
KEEP_FINISHED = 500
_UNKNOWN = object()  # "we could not tell what Ollama had installed"


@dataclass(eq=False)
class LiveJob:
    """Everything the pool keeps about one job from submit until it ends, in one record
    (arq keeps one entry per job the same way) rather than one dict per attribute."""

    job: PullJob
    fanout: ProgressFanout
    #: Set once the outcome is recorded; a cancel waits on it.
    finished: asyncio.Event = field(default_factory=asyncio.Event)
    #: The job's own task, while it runs (a cancel never hits the worker).
    task: asyncio.Task[None] | None = None
    #: Why its task was cancelled: a user's cancel, or shutdown.
    stop_reason: tuple[PullStatus, str] | None = None
    #: Ollama's ``/api/tags`` entry for the model when the pull began (None: not
    #: installed); ``_UNKNOWN`` until it has been read.
    before: Any = _UNKNOWN


class PullPool:
    """Runs pull jobs on ``workers`` worker tasks; see the module docstring."""

    def __init__(
        self,
        *,
        db: Database,
        service: OllamaService,
        hub: SocketHub,
        workers: int,
        owner: str = "",
        live: Callable[[], Awaitable[list[str]]] | None = None,
        peers: Callable[[], int] = lambda: 0,
        persist_interval: float = 2.0,
    ) -> None:
        self.db = db
        self.service = service
        self.hub = hub
        self.workers = workers
        self.owner = owner
        self.live = live
        self.peers = peers
        self.persist_interval = persist_interval
        self.remote = RemoteJobs(db, hub, owner)
        self._live: dict[str, LiveJob] = {}  # by job id, until the job ends
        self._active: dict[str, PullJob] = {}  # the same jobs, by pull_key(model)
        # Fanouts of ended jobs still sending their last events, so close() can wait.
        self._ending: set[ProgressFanout] = set()
        self._waiting: deque[PullJob] = deque()
        self._ready = asyncio.Condition()
        self._submit_lock = asyncio.Lock()
        self._worker_tasks: list[asyncio.Task[None]] = []
        # Cancels other processes asked for, being carried out.
        self._remote_cancels: dict[str, asyncio.Task[None]] = {}
        self._closing = False

    # -- lifecycle -------------------------------------------------------------------

    async def start(self) -> None:
        """Fail the jobs dead processes left (this one's row must be beating already)."""
        live = await self.live() if self.live is not None else [self.owner]
        async with self.db.transaction() as tx:
            stale = await pull_jobs.fail_orphaned(tx, RESTART_MESSAGE, tx.now, live)
        if stale:
            log.warning("marked %d pull job(s) left by a previous process failed", len(stale))
        self._worker_tasks = [
            asyncio.create_task(self._worker(), name=f"pull-worker-{n}")
            for n in range(self.workers)
        ]

    async def fail_orphans(self) -> None:
        """Fail the jobs of a process sharing the database that stopped beating."""
        live = await self.live() if self.live is not None else [self.owner]
        async with self.db.transaction() as tx:
            gone = await pull_jobs.fail_orphaned(tx, GONE_MESSAGE, tx.now, live)
        if gone:
            log.warning("marked %d pull job(s) of a stopped process failed", len(gone))

    async def on_database_change(self) -> None:
        """A hook of the log tailer: follow the jobs other processes run, and carry out
        the cancels asked through them for this process's jobs."""
        await self.remote.poll()
        if not self._live or self._closing:
            return
        try:
            asked = await pull_jobs.cancel_requests(self.db, self.owner)
        except Exception:
            log.exception("could not read the pull cancels other processes asked for")
            return
        for job_id in asked:
            if job_id in self._live and job_id not in self._remote_cancels:
                task = asyncio.create_task(self._cancel_asked(job_id), name=f"cancel-{job_id[:8]}")
                self._remote_cancels[job_id] = task

    async def _cancel_asked(self, job_id: str) -> None:
        try:
            job = await self.cancel(job_id)
            log.info("pull %s of %s cancelled through another process", job.id, job.model)
        except ResourceConflict:
            pass  # it ended first; the asking process reads the outcome from the row
        finally:
            self._remote_cancels.pop(job_id, None)

    async def close(self, timeout: float) -> None:
        """Stop taking jobs, fail queued ones, cancel running ones; bounded by ``timeout``."""
        self._closing = True
        for task in list(self._remote_cancels.values()):
            task.cancel()
        while self._waiting:
            job = self._waiting.popleft()
            await self._finish(job, PullStatus.FAILED, SHUTDOWN_MESSAGE, error=SHUTDOWN_MESSAGE)
        for record in list(self._live.values()):
            if record.task is not None:
                record.stop_reason = (PullStatus.FAILED, SHUTDOWN_MESSAGE)
                record.task.cancel()
        async with self._ready:
            self._ready.notify_all()
        if self._worker_tasks:
            _, late = await asyncio.wait(self._worker_tasks, timeout=timeout)
            for task in late:
                task.cancel()
            await asyncio.gather(*self._worker_tasks, return_exceptions=True)
        await self.remote.close()
        # Final events of jobs that just ended; sockets are closed by now, so it is quick.
        for fanout in [*self._ending, *(record.fanout for record in self._live.values())]:
            await fanout.wait_closed(timeout=0.1)

    # -- reads -----------------------------------------------------------------------

    def active_job(self, model: str) -> PullJob | None:
        """The queued/downloading/verifying job of ``model``, if any (no I/O)."""
        return self._active.get(pull_key(model))

    async def get(self, job_id: str) -> PullJob:
        record = self._live.get(job_id)
        if record is not None:
            return record.job
        mirror = self.remote.get(job_id)
        if mirror is not None:
            return mirror
        row = await pull_jobs.get(self.db, job_id)
        if row is None:
            raise ResourceNotFound(f"Pull job '{job_id}' not found", details={"field": "id"})
        return PullJob.from_row(row)

    async def latest(self, model: str) -> PullJob | None:
        """The active job of ``model``, else its most recent finished one."""
        job = self.active_job(model)
        if job is not None:
            return job
        row = await pull_jobs.latest_for_model(self.db, normalize_model_name(model))
        return self.active_job(model) or (self._from_row(row) if row else None)

    def _from_row(self, row: pull_jobs.PullJobRow) -> PullJob:
        """A stored job; one that another process is running is followed live."""
        record = self._live.get(row.id)
        if record is not None:
            return record.job
        if row.status in pull_jobs.ACTIVE_STATUSES and row.owner != self.owner:
            return self.remote.follow(row)
        return PullJob.from_row(row)

    async def recent(
        self, *, status: str | None = None, model: str | None = None, limit: int = 100
    ) -> list[PullJob]:
        """Newest first; live jobs come from memory so their progress is current."""
        name = normalize_model_name(model) if model is not None else None
        rows = await pull_jobs.list_recent(self.db, status=status, model=name, limit=limit)
        return [self._from_row(row) for row in rows]

    def counts(self) -> dict[str, int]:
        return {
            "workers": self.workers,
            "running": sum(record.task is not None for record in self._live.values()),
            "queued": len(self._waiting),
        }

    # -- writes ----------------------------------------------------------------------

    async def request(self, model: str) -> tuple[PullJob, bool]:
        """What REST and ``pull:start`` call: the active job, or a new one.

        Ollama is asked for its version first, so "Ollama is down" is a 503 now rather
        than a job queued only to fail. Returns ``(job, created)``.
        """
        existing = self.active_job(model)
        if existing is not None:
            return existing, False
        await self.service.client.version()
        return await self.submit(model)

    async def submit(self, model: str) -> tuple[PullJob, bool]:
        """Queue a pull of ``model``; ``(job, False)`` if one is already active."""
        key = pull_key(model)
        async with self._submit_lock:
            if self._closing:
                raise Unavailable("modeldeck is shutting down; no new pulls")
            existing = self._active.get(key)
            if existing is not None:
                return existing, False
            job = PullJob.new(normalize_model_name(model))
            job.updated_at = job.created_at
            job.owner = self.owner
            try:
                async with self.db.transaction() as tx:
                    await pull_jobs.insert(tx, job.to_row())
                    await pull_jobs.prune_finished(tx, KEEP_FINISHED)
            except Conflict:
                # Another process sharing the database runs this model's job.
                row = await pull_jobs.active_for_model(self.db, job.model)
                if row is None:  # it ended in between: the caller may ask again
                    raise ResourceConflict(
                        f"a pull of {job.model} just ended in another process; try again",
                        details={"field": "model"},
                    ) from None
                return self._from_row(row), False
            self._active[key] = job
            fanout = ProgressFanout(self.hub, job)
            fanout.task.add_done_callback(lambda _: self._ending.discard(fanout))
            self._live[job.id] = LiveJob(job, fanout)
            async with self._ready:
                self._waiting.append(job)
                self._renumber()
                self._ready.notify()
        log.info("pull %s of %s queued", job.id, key)
        return job, True

    async def cancel(self, job_id: str) -> PullJob:
        """Cancel a queued or running job and return it, final; 409 if it had ended."""
        job = await self.get(job_id)
        if job.owner != self.owner and not job.status.finished:
            job = await self._cancel_elsewhere(job_id)
            if job.status is PullStatus.CANCELLED:
                return job
            if not job.status.finished:
                raise Unavailable(
                    f"the modeldeck process running pull job '{job_id}' did not cancel it"
                    f" within {REMOTE_CANCEL_WAIT:g} s; try again",
                    details={"field": "id", "owner": job.owner},
                )
        if job in self._waiting:
            self._waiting.remove(job)
            self._renumber()
            await self._finish(job, PullStatus.CANCELLED, CANCELLED_MESSAGE)
            return job
        record = self._live.get(job_id)
        task = record.task if record is not None else None
        if record is not None and task is not None:
            if record.stop_reason is None:
                record.stop_reason = (PullStatus.CANCELLED, CANCELLED_MESSAGE)
            task.cancel()
        if record is not None:
            # The worker records the outcome (it may be completing right now): wait for it.
            await record.finished.wait()
        if job.status is PullStatus.CANCELLED and task is not None:
            return job
        raise ResourceConflict(
            f"Pull job '{job_id}' already {job.status.value}; nothing to cancel",
            details={"field": "id", "status": job.status.value},
        )

    async def _cancel_elsewhere(self, job_id: str) -> PullJob:
        """Ask the process running ``job_id`` to cancel it; the job once that process
        recorded an end (or as it is after ``REMOTE_CANCEL_WAIT`` seconds)."""
        async with self.db.transaction() as tx:
            asked = await pull_jobs.request_cancel(tx, job_id, tx.now)
            row = await pull_jobs.get(tx, job_id)
        if row is None:
            raise ResourceNotFound(f"Pull job '{job_id}' not found", details={"field": "id"})
        if not asked:  # it ended in between
            return PullJob.from_row(row)
        return await self.remote.until_ended(row, REMOTE_CANCEL_WAIT)

    # -- workers ---------------------------------------------------------------------

    def _renumber(self) -> None:
        """Queue positions count from 1; queued subscribers see theirs change.

        Only jobs behind busy workers have a position: a job that an idle worker is
        about to take waits for nothing, and "position 1" would tell its user otherwise.
        """
        running = sum(1 for record in self._live.values() if record.task is not None)
        free = max(0, self.workers - running)
        for index, job in enumerate(self._waiting):
            position = index - free + 1 if index >= free else None
            if job.queue_position != position:
                job.queue_position = position
                self._live[job.id].fanout.changed()

    async def _worker(self) -> None:
        while True:
            async with self._ready:
                await self._ready.wait_for(lambda: bool(self._waiting) or self._closing)
                if self._closing:
                    return
                job = self._waiting.popleft()
                self._renumber()
                record = self._live[job.id]
                # Created before the lock is released, so a cancel always finds it.
                task = asyncio.create_task(self._stream(record), name=f"pull-{job.id[:8]}")
                record.task = task
            await self._run(record, task)

    async def _run(self, record: LiveJob, task: asyncio.Task[None]) -> None:
        """Wait for one job's task (its own, so a cancel never hits the worker); record it."""
        job = record.job
        try:
            await asyncio.wait({task})
        finally:
            record.task = None
        reason = record.stop_reason or (PullStatus.CANCELLED, CANCELLED_MESSAGE)
        if task.cancelled():
            await self._stopped(job, *reason, record.before)
        elif (exc := task.exception()) is not None:
            if not isinstance(exc, OllamaError):
                log.error("pull %s of %s crashed", job.id, job.model, exc_info=exc)
            message = exc.message if isinstance(exc, OllamaError) else f"internal error: {exc!r}"
            await self._finish(job, PullStatus.FAILED, message, error=message)
        else:
            await self._completed(job)

    async def _stream(self, record: LiveJob) -> None:
        """The job's coroutine: Ollama's lines folded into the job, fanned out, saved."""
        job, fanout = record.job, record.fanout
        job.start()
        # Shielded writes: a cancel must not cut a row write in half.
        await asyncio.shield(self._save(job, status_changed=True))
        with contextlib.suppress(OllamaError):
            record.before = (await self.service.listing()).find(job.model)
        saved_at = time.monotonic()
        async with contextlib.aclosing(self.service.client.pull(job.model)) as lines:
            async for line in lines:
                now = time.monotonic()
                changed = job.apply(line, now)
                interval = SHARED_PERSIST_INTERVAL if self.peers() else self.persist_interval
                if changed or now - saved_at >= interval:
                    saved_at = now
                    await asyncio.shield(self._save(job, status_changed=changed))
                else:
                    fanout.changed()

    async def _completed(self, job: PullJob) -> None:
        try:
            listing: Listing | None = await self.service.listing()
        except OllamaError as exc:
            log.warning("pull %s done but the installed list is unavailable: %s", job.id, exc)
            listing = None
        await self._finish(job, PullStatus.COMPLETED, "success", listing=listing)

    async def _stopped(self, job: PullJob, status: PullStatus, message: str, before: Any) -> None:
        """After a cancel: re-read the list, since Ollama may have finished anyway.

        ``before`` is the model's ``/api/tags`` entry when the pull began (None: not
        installed); if that is unknown, or we are shutting down, nothing is re-read.
        """
        listing: Listing | None = None
        if not self._closing and before is not _UNKNOWN:
            with contextlib.suppress(OllamaError):
                listing = await self.service.listing()
        after = listing.find(job.model) if listing else None
        if after is None or after == before:
            listing = None
        else:
            message += "; Ollama had already finished the model, so it is installed"
        error = message if status is PullStatus.FAILED else None
        await self._finish(job, status, message, error=error, listing=listing)

    async def _finish(
        self,
        job: PullJob,
        status: PullStatus,
        message: str,
        *,
        error: str | None = None,
        listing: Listing | None = None,
    ) -> None:
        """Announce the outcome, then record it (and ``ollama:updated`` in the same commit).

        ``pull:complete``/``pull:error`` are written before the commit hands
        ``ollama:updated`` to the bus, so a subscriber always sees the pull end first.
        They are ephemeral and the job is final in memory already: if the row cannot
        be written, the next start fails the job, as it would after a crash.
        """
        job.finish(status, message, error)
        record = self._live[job.id]
        await record.fanout.finish(COMPLETE if status is PullStatus.COMPLETED else ERROR)
        try:
            async with self.db.transaction() as tx:
                job.updated_at = tx.now
                await pull_jobs.update(tx, job.id, job.row_changes())
                if listing is not None:
                    await self.service.log_updated(tx, "pulled", job.model, listing)
        finally:
            # Even if the row could not be written (the next start fails it), the
            # model must not stay blocked and waiters must not hang.
            self._live.pop(job.id)
            self._active.pop(pull_key(job.model), None)
            if not record.fanout.task.done():  # kept until its last event is out
                self._ending.add(record.fanout)
            record.finished.set()
        log.info("pull %s of %s %s: %s", job.id, job.model, status.value, message)

    async def _save(self, job: PullJob, *, status_changed: bool) -> None:
        async with self.db.transaction() as tx:
            job.updated_at = tx.now
            await pull_jobs.update(tx, job.id, job.row_changes())
        record = self._live.get(job.id)
        if record is not None:
            record.fanout.changed(status_changed=status_changed)
