"""The bus: turns committed event-log rows into broadcasts, in seq order.

``publish`` is called by the storage layer right after COMMIT while the write lock is
still held, so events enter the queue in commit order; a single broadcaster task drains
the queue, which keeps that order on the wire no matter how writers are scheduled. The
bus knows nothing of SQL: it gets ``LoggedEvent``-like rows and an ``Emitter``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Sequence
from typing import Any, Protocol

from events.names import topic_room

log = logging.getLogger(__name__)


class Emitter(Protocol):
    """Delivers one payload to every member of a room; returns the recipient count."""

    async def emit(self, event: str, data: dict[str, Any], *, room: str) -> int: ...


class CommittedEvent(Protocol):
    seq: int
    event: str
    topic: str

    def payload(self) -> dict[str, Any]: ...


class EventBus:
    """Single-consumer queue of committed events. Not thread-safe: one event loop."""

    def __init__(self, emitter: Emitter, *, last_seq: int = 0) -> None:
        self._emitter = emitter
        self._queue: asyncio.Queue[CommittedEvent] = asyncio.Queue()
        self._task: asyncio.Task[None] | None = None
        self.committed_seq = last_seq
        self.delivered_seq = last_seq

    def publish(self, events: Sequence[CommittedEvent]) -> None:
        """Queue committed events; never blocks (called under the write lock)."""
        for event in events:
            self._queue.put_nowait(event)
            self.committed_seq = event.seq

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="event-broadcaster")

    async def _run(self) -> None:
        while True:
            event = await self._queue.get()
            try:
                recipients = await self._emitter.emit(
                    event.event, event.payload(), room=topic_room(event.topic)
                )
                log.info("broadcast %s seq=%d recipients=%d", event.event, event.seq, recipients)
            except Exception:
                log.exception("broadcast of %s seq=%d failed", event.event, event.seq)
            finally:
                self.delivered_seq = event.seq
                self._queue.task_done()

    async def drain(self, timeout: float) -> None:
        """Wait (bounded) until everything committed has been handed to the emitter."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._queue.join(), timeout)

    async def stop(self, timeout: float = 2.0) -> None:
        await self.drain(timeout)
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
