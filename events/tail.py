"""The log tailer: hands the bus what other processes sharing the database committed.

Several modeldeck processes may serve one SQLite file. Each process's own commits reach
its bus through the commit hook; the others' only through the event log. SQLite's
``PRAGMA data_version`` changes on a connection whenever any other connection (of this
process or another) committed, and costs no I/O beyond the shared-memory header, so the
tailer asks for it every ``interval`` seconds, or at once when another process wakes it
(``events.wakeup``), and reads ``seq > received`` only after it changed. The events it
reads go to ``deliver`` (the bus, after the read caches are invalidated); seqs this
process already published are dropped by the bus.

Before it reads the log, the ``on_change`` hooks run: other state that processes
share through the database (pull jobs run elsewhere) is read first, so what they
announce leaves before the events committed with it, as it does in the process that
committed them.

Like the bus it knows no SQL: it is driven by two storage functions.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Sequence

from events.bus import CommittedEvent

log = logging.getLogger(__name__)

#: How often ``data_version`` is asked for: the bound on cross-process delivery delay.
TAIL_INTERVAL = 0.01
#: Events read per query; a longer backlog is read page by page.
PAGE = 1000

OnChange = Callable[[], Awaitable[None]]
DataVersion = Callable[[], Awaitable[int]]
ReadAfter = Callable[[int, int], Awaitable[Sequence[CommittedEvent]]]
Deliver = Callable[[Sequence[CommittedEvent]], None]


class LogTailer:
    """Polls ``data_version`` and feeds newly logged events to ``deliver``. One event loop."""

    def __init__(
        self,
        *,
        data_version: DataVersion,
        read_after: ReadAfter,
        deliver: Deliver,
        received_seq: Callable[[], int],
        log_head: Callable[[], Awaitable[int]] | None = None,
        interval: float = TAIL_INTERVAL,
    ) -> None:
        self._data_version = data_version
        self._log_head = log_head
        self._read_after = read_after
        self._deliver = deliver
        self._received_seq = received_seq
        self.interval = interval
        self._task: asyncio.Task[None] | None = None
        #: Events this tailer read from the log (for /metrics).
        self.tailed = 0
        #: Run (in order) whenever the database changed, before the log is read.
        self.on_change: list[OnChange] = []
        self._hooks_lock = asyncio.Lock()
        self._waiter: asyncio.Future[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="event-log-tailer")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _run(self) -> None:
        seen: int | None = None
        failing = False
        while True:
            try:
                version = await self._data_version()
                if version != seen:
                    seen = version
                    # The log's head is read before the hooks: they then see at least
                    # what those events committed (a pull's final row is committed with
                    # its ollama:updated), so nothing they announce comes after an event
                    # of the same commit. Later events wait for the next turn.
                    head = await self._log_head() if self._log_head is not None else None
                    await self.run_hooks()
                    await self.catch_up(until=head)
                if failing:
                    log.warning("the event log is readable again")
                failing = False
            except Exception:
                if not failing:  # once per outage, not 60 times a second
                    log.exception("could not read the event log; retrying")
                failing = True
                seen = None
            await self._pause()

    async def _pause(self) -> None:
        """Wait ``interval``, or less if ``wake`` is called meanwhile (a future and a
        timer, not a task per turn: this runs a hundred times a second)."""
        loop = asyncio.get_running_loop()
        waiter = self._waiter = loop.create_future()
        timer = loop.call_later(self.interval, _resolve, waiter)
        try:
            await waiter
        finally:
            timer.cancel()
            self._waiter = None

    def wake(self) -> None:
        """Look at the database now: another process just committed (``events.wakeup``)."""
        if self._waiter is not None:
            _resolve(self._waiter)

    async def run_hooks(self) -> None:
        """Run the ``on_change`` hooks, one run at a time.

        Also what the bus calls before it fills a gap from the log (this process
        committed after another one, before this tailer noticed): the events it reads
        then must not overtake what the hooks announce, as in ``_run``.
        """
        async with self._hooks_lock:
            for hook in self.on_change:
                await hook()

    async def catch_up(self, until: int | None = None) -> None:
        """Read and deliver every logged event after the highest one the bus has (up to
        ``until``, when given)."""
        while True:
            after = self._received_seq()
            read = await self._read_after(after, PAGE)
            events = [e for e in read if until is None or e.seq <= until]
            if events:
                # All of them, even if the commit hook published some meanwhile: the
                # bus drops duplicates, and it must not have to fill a gap we read.
                self.tailed += len(events)
                self._deliver(events)
            if len(read) < PAGE or len(events) < len(read):
                return


def _resolve(waiter: asyncio.Future[None]) -> None:
    if not waiter.done():
        waiter.set_result(None)
