"""The bus: turns committed event-log rows into broadcasts, in seq order.

Events reach the bus from two sides: ``publish`` is called by the storage layer right
after this process's COMMIT (the fast path: no SQL), and the log tailer
(``events.tail``) hands it what other processes sharing the database committed. A
single broadcaster task drains the queue and delivers each ``seq`` exactly once, in
order: a seq at or below ``delivered_seq`` is a duplicate (both sides saw it) and is
dropped, and when the next seq is not ``delivered_seq + 1`` (another process committed
in between and the tailer has not read it yet) the missing range is read from the log
first. SQLite serialises writers across processes, so seqs commit in order and a gap
is always already in the log. The bus knows nothing of SQL: it gets ``LoggedEvent``-like
rows, an ``Emitter`` and a function that reads a range of the log.

Each event first advances the registry mirror, then becomes one broadcast per format
that has listeners: the logged (delta) bytes as they are for the delta rooms, the
mirror's full payload, encoded once, for the full rooms. Events that look the same in
both formats are encoded once and sent to both rooms.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Sequence
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


#: Reads the logged events with ``after < seq <= until``, oldest first.
ReadRange = Callable[[int, int], Awaitable[Sequence[CommittedEvent]]]


class EventBus:
    """Single-consumer queue of committed events. Not thread-safe: one event loop."""

    def __init__(
        self,
        emitter: Emitter,
        mirror: RegistryMirror,
        *,
        last_seq: int = 0,
        read_range: ReadRange | None = None,
    ) -> None:
        self._emitter = emitter
        self.mirror = mirror
        self._read_range = read_range
        self._queue: asyncio.Queue[CommittedEvent] = asyncio.Queue()
        self._task: asyncio.Task[None] | None = None
        #: The last seq handed to the emitter.
        self.delivered_seq = last_seq
        #: The highest seq queued so far (the tailer reads the log after it).
        self.received_seq = last_seq
        #: Events read back from the log to fill a gap (for ``/metrics``).
        self.gap_fills = 0
        self._waiters: list[tuple[int, asyncio.Future[None]]] = []

    def publish(self, events: Sequence[CommittedEvent]) -> None:
        """Queue committed events; never blocks (called under the write lock)."""
        for event in events:
            self._queue.put_nowait(event)
            if event.seq > self.received_seq:
                self.received_seq = event.seq

    async def _in_order(self, received: list[CommittedEvent]) -> list[CommittedEvent]:
        """What is new in ``received``, in seq order, with any missing seq read from the log."""
        fresh = sorted(
            {e.seq: e for e in received if e.seq > self.delivered_seq}.values(),
            key=lambda e: e.seq,
        )
        if not fresh or self._read_range is None:
            return fresh
        if fresh[-1].seq - self.delivered_seq == len(fresh):
            return fresh  # contiguous from delivered_seq + 1: the usual case
        # A hole: another process committed in between. The log is the truth; events
        # it no longer keeps (pruned) are skipped, there is nothing else to deliver.
        try:
            logged = await self._read_range(self.delivered_seq, fresh[-1].seq)
        except Exception:
            log.exception("could not read seq %d..%d from the log: sending what arrived",
                          self.delivered_seq + 1, fresh[-1].seq)  # fmt: skip
            return fresh
        self.gap_fills += 1
        known = {e.seq: e for e in logged} | {e.seq: e for e in fresh}
        return [known[seq] for seq in sorted(known)]

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="event-broadcaster")

    async def _run(self) -> None:
        while True:
            # Everything already committed goes out as one batch: under a burst of
            # writes each client then gets one socket write for several events.
            received = [await self._queue.get()]
            while not self._queue.empty():
                received.append(self._queue.get_nowait())
            events: list[CommittedEvent] = []
            try:
                events = await self._in_order(received)
                if not events:
                    continue
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
                log.exception("broadcast of %d event(s) failed", len(received))
            finally:
                if events:
                    self.delivered_seq = max(self.delivered_seq, events[-1].seq)
                for _ in received:
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
        target = self.received_seq
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
