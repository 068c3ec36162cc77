"""The bus: turns committed event-log rows into broadcasts, in seq order.

``publish`` is called by the storage layer right after COMMIT while the write lock is
still held, so events enter the queue in commit order; a single broadcaster task drains
the queue, which keeps that order on the wire no matter how writers are scheduled. The
bus knows nothing of SQL: it gets ``LoggedEvent``-like rows and an ``Emitter``.

Each event first advances the registry mirror, then becomes one broadcast per format
that has listeners: the logged (delta) bytes as they are for the delta rooms, the
mirror's full payload, encoded once, for the full rooms. Events that look the same in
both formats are encoded once and sent to both rooms.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Sequence
from typing import NamedTuple, Protocol

from events.mirror import RegistryMirror
from events.names import REGISTRY_EVENTS, Format, topic_room

log = logging.getLogger(__name__)


class Broadcast(NamedTuple):
    event: str
    room: str
    seq: int | None
    payload_json: bytes  # the payload, already encoded (with its seq)


class Emitter(Protocol):
    """Delivers each broadcast to every member of its room, in order; returns the
    recipient count of each. Given several at once it may coalesce writes per client."""

    async def emit_batch(self, batch: Sequence[Broadcast]) -> list[int]: ...

    def room_size(self, room: str) -> int: ...


class CommittedEvent(Protocol):
    @property
    def seq(self) -> int: ...
    @property
    def event(self) -> str: ...
    @property
    def topic(self) -> str: ...

    def payload_json(self) -> bytes: ...


class EventBus:
    """Single-consumer queue of committed events. Not thread-safe: one event loop."""

    def __init__(self, emitter: Emitter, mirror: RegistryMirror, *, last_seq: int = 0) -> None:
        self._emitter = emitter
        self.mirror = mirror
        self._queue: asyncio.Queue[CommittedEvent] = asyncio.Queue()
        self._task: asyncio.Task[None] | None = None
        self.delivered_seq = last_seq
        self._published_seq = last_seq
        self._waiters: list[tuple[int, asyncio.Future[None]]] = []

    def publish(self, events: Sequence[CommittedEvent]) -> None:
        """Queue committed events; never blocks (called under the write lock)."""
        for event in events:
            self._queue.put_nowait(event)
            self._published_seq = max(self._published_seq, event.seq)

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="event-broadcaster")

    async def _run(self) -> None:
        while True:
            # Everything already committed goes out as one batch: under a burst of
            # writes each client then gets one socket write for several events.
            events = [await self._queue.get()]
            while not self._queue.empty():
                events.append(self._queue.get_nowait())
            try:
                batch: list[Broadcast] = []
                for event in events:
                    batch += self._broadcasts(event)
                counts = await self._emitter.emit_batch(batch)
                recipients = dict.fromkeys((e.seq for e in events), 0)
                for broadcast, count in zip(batch, counts, strict=True):
                    recipients[broadcast.seq or 0] += count
                for event in events:
                    log.info(
                        "broadcast %s seq=%d recipients=%d",
                        event.event, event.seq, recipients[event.seq],
                    )  # fmt: skip
            except Exception:
                log.exception("broadcast of seq %d..%d failed", events[0].seq, events[-1].seq)
            finally:
                self.delivered_seq = events[-1].seq
                for _ in events:
                    self._queue.task_done()
                self._wake()

    def _wake(self) -> None:
        waiting = []
        for target, waiter in self._waiters:
            if target <= self.delivered_seq:
                if not waiter.done():
                    waiter.set_result(None)
            else:
                waiting.append((target, waiter))
        self._waiters = waiting

    async def settled(self, timeout: float) -> None:
        """Wait (bounded) until what was committed before this call has been broadcast
        (and applied to the mirror); later commits are not waited for."""
        target = self._published_seq
        if target <= self.delivered_seq:
            return
        waiter = asyncio.get_running_loop().create_future()
        self._waiters.append((target, waiter))
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(asyncio.shield(waiter), timeout)

    def _broadcasts(self, event: CommittedEvent) -> list[Broadcast]:
        """Advance the mirror to ``event``; one broadcast per format with listeners."""
        data = self.mirror.apply(event)
        full_room = topic_room(event.topic, Format.FULL)
        delta_room = topic_room(event.topic, Format.DELTA)
        delta = event.payload_json()
        out = []
        if self._emitter.room_size(delta_room):
            out.append(Broadcast(event.event, delta_room, event.seq, delta))
        if self._emitter.room_size(full_room):
            full = (
                self.mirror.full_payload(event, data) if event.event in REGISTRY_EVENTS else delta
            )
            out.append(Broadcast(event.event, full_room, event.seq, full))
        return out

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
