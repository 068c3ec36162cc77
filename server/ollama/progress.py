"""Pull progress fan-out: each job's ``pull:*`` events to its ``pull:<model>`` room.

Ollama may report hundreds of progress lines a second; dashboards need ten. Each job
gets one :class:`ProgressFanout` that owns every ``pull:*`` emit for that job:

- ``pull:progress`` is coalesced: at most one per ``interval`` (0.1 s), carrying the
  job's state *as it is when sent*, so nothing is queued up and nothing goes stale;
- a status change is never coalesced away: its snapshot is queued and sent in order
  (at most one interval late), so a client sees queued -> downloading -> verifying;
- the end is the job's final ``pull:progress`` and then exactly one ``pull:complete``
  or ``pull:error`` (``status: failed|cancelled``, ``message``), written at once by
  ``finish`` (with any status change still queued before them), not by the task.

One task per job sends the rest, so they leave in the order they were made: progress
on the wire never goes backwards. ``finish`` writing before it returns is what orders
the end before ``ollama:updated``: that event reaches sockets through the event bus's own
task once the job's transaction commits, so the pool calls ``finish`` before it
commits, and a task that may be sleeping out its interval can no longer fall behind.
``pull:*`` events are ephemeral (no ``seq``, not in the event log): ``pull:subscribe``
acks a snapshot instead of replaying.

Rooms are ``pull:`` + the normalised model name in lower case (Ollama compares names
without case), so ``llama3.2`` and ``Llama3.2:latest`` share one room and one job.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from typing import Any

from server.ollama.client import normalize_model_name
from server.ollama.jobs import PullJob
from server.realtime.hub import SocketHub

log = logging.getLogger("modeldeck.pulls")

PROGRESS = "pull:progress"
COMPLETE = "pull:complete"
ERROR = "pull:error"
PROGRESS_INTERVAL = 0.1  # seconds: at most ~10 pull:progress per second per job


def pull_key(model: str) -> str:
    """The one spelling of a model for jobs and rooms; raises InvalidModelName."""
    return normalize_model_name(model).lower()


def pull_room(model: str) -> str:
    return f"pull:{pull_key(model)}"


class ProgressFanout:
    """Sends one job's ``pull:*`` events to its room. Not thread-safe: one event loop."""

    def __init__(self, hub: SocketHub, job: PullJob, interval: float = PROGRESS_INTERVAL) -> None:
        self.hub = hub
        self.job = job
        self.room = pull_room(job.model)
        self.interval = interval
        self._must_send: deque[tuple[str, dict[str, Any]]] = deque()
        self._dirty = False
        self._done = False
        self._last_sent = float("-inf")
        self._wake = asyncio.Event()
        self.task = asyncio.create_task(self._run(), name=f"pull-fanout-{job.id[:8]}")

    def changed(self, *, status_changed: bool = False) -> None:
        """The job changed; a status change is sent for sure, progress when due."""
        if self._done:
            return
        if status_changed:
            self._must_send.append((PROGRESS, self.job.view()))
            self._dirty = False
        else:
            self._dirty = True
        self._wake.set()

    async def finish(self, event: str) -> None:
        """The job is over: write what is queued, its final state, then ``pull:complete``
        or ``pull:error``, now: once awaited they are on every subscriber's socket (or
        its queue), in order, before anything the caller broadcasts afterwards."""
        if self._done:
            return
        view = self.job.view()
        self._must_send.extend([(PROGRESS, view), (event, view)])
        self._dirty = False
        self._done = True
        await self._send_queued()
        self._wake.set()  # the task finds nothing left and ends

    async def wait_closed(self, timeout: float) -> None:
        """Wait (bounded) until the final events are out; then stop sending."""
        done, _ = await asyncio.wait({self.task}, timeout=timeout)
        if not done:
            self.task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self.task

    async def _run(self) -> None:
        while not (self._done and not self._must_send):
            await self._wake.wait()
            self._wake.clear()
            await self._send_queued()
            if self._dirty and not self._done:
                # Sleep out the rest of the interval while lines keep updating the job,
                # then send the state as it is by then: one emit per interval at most.
                delay = self._last_sent + self.interval - time.monotonic()
                if delay > 0:
                    await asyncio.sleep(delay)
                await self._send_queued()  # status changes made meanwhile are older
                if self._dirty and not self._done:
                    self._dirty = False
                    await self._send(PROGRESS, self.job.view())

    async def _send_queued(self) -> None:
        while self._must_send:
            event, data = self._must_send.popleft()
            await self._send(event, data)

    async def _send(self, event: str, data: dict[str, Any]) -> None:
        self._last_sent = time.monotonic()
        try:
            await self.hub.sio.emit(event, data, to=self.room)  # not encoded if nobody listens
        except Exception:
            log.exception("could not send %s for pull %s", event, self.job.id)
