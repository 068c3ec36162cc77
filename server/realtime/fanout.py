"""The one seam every server → client send goes through: python-socketio's client manager.

``AsyncServer(client_manager=BroadcastManager(...))`` makes ``sio.emit(event, data,
to=room)`` land in :meth:`BroadcastManager.emit` — registry events from the bus,
greetings, replays, pull progress and socket replies alike. A pub/sub manager (e.g.
python-socketio's ``AsyncRedisManager``) can later sit under it the same way.

The manager encodes a broadcast once (a payload may come already encoded, as
:class:`Encoded`, so the event log's bytes are reused) and hands it to a
:class:`Transmitter` — on the fast path, pre-framed writes to each client (see
``engine.py``); on the stock path, python-socketio's own ``AsyncManager.emit``.

A client that is catching up (replay after a reconnect) is *held*: room broadcasts
for it are kept aside until its welcome has been written, so the seam between replay
and live events has no gap and no duplicate. Sends to one client (``to=sid``) are
never held: they are its welcome and its replies. Not thread-safe: one event loop.
"""

from __future__ import annotations

import contextlib
import contextvars
import logging
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import orjson
import socketio

log = logging.getLogger("modeldeck.socket")
NAMESPACE = "/"


class Encoded:
    """A payload already encoded as JSON, for ``sio.emit`` (not encoded again)."""

    __slots__ = ("json", "seq")

    def __init__(self, json: bytes, seq: int | None = None) -> None:
        self.json = json
        self.seq = seq


class Outgoing:
    """One event for many clients: its name, its payload bytes, its seq."""

    __slots__ = ("event", "payload", "seq", "wire")

    def __init__(self, event: str, payload: bytes, seq: int | None = None) -> None:
        self.event = event
        self.payload = payload
        self.seq = seq
        self.wire: object = None  # the transmitter's own encoding, built once

    @classmethod
    def of(cls, event: str, data: Any) -> Outgoing:
        if isinstance(data, Encoded):
            return cls(event, data.json, data.seq)
        return cls(event, orjson.dumps(data))

    def packet(self) -> bytes:
        """engine.io MESSAGE ("4") carrying a Socket.IO EVENT ("2") on namespace "/"."""
        return b"42[" + orjson.dumps(self.event) + b"," + self.payload + b"]"

    def data(self) -> orjson.Fragment:
        """The payload for python-socketio's own encoder (orjson splices it in as is)."""
        return orjson.Fragment(self.payload)


@dataclass
class Stats:
    broadcasts: int = 0
    deliveries: int = 0
    overflows: int = 0
    queue_high_water: int = 0


@dataclass
class _Batch:
    """What ``coalescing`` collects: each client's sends (fast path), and the recipient
    count of each ``emit`` made in the block."""

    pending: dict[str, list[Outgoing]] | None
    counts: list[int] = field(default_factory=list)


#: The batch of the task inside ``coalescing`` (a context variable: an emit made by
#: another task while the block awaits, e.g. a reply, is not counted or held in it).
_BATCH: contextvars.ContextVar[_Batch | None] = contextvars.ContextVar(
    "modeldeck_fanout_batch", default=None
)


class Transmitter(Protocol):
    """How bytes reach one client on the fast path (``engine.FastEngine``)."""

    fast: bool

    def deliver(self, eio_sid: str, outgoing: Sequence[Outgoing]) -> bool: ...

    async def cut_off(self, eio_sid: str, reason: str) -> None: ...


class BroadcastManager(socketio.AsyncManager):  # type: ignore[misc]
    """python-socketio's client manager with encode-once fan-out and catch-up holds."""

    def __init__(self, max_held: int) -> None:
        super().__init__()
        self.max_held = max_held
        self.stats = Stats()
        self.transmitter: Transmitter | None = None  # set by the hub; None: stock path
        self._holds: dict[str, list[Outgoing]] = {}

    @property
    def fast(self) -> bool:
        return self.transmitter is not None and self.transmitter.fast

    # -- python-socketio's manager interface ---------------------------------------

    async def emit(
        self,
        event: str,
        data: Any,
        namespace: str,
        room: str | None = None,
        skip_sid: Any = None,
        callback: Any = None,
        to: str | None = None,
        **kwargs: Any,
    ) -> None:
        """Deliver ``event`` to ``room`` (a topic/pull room, or one client's sid)."""
        room = to or room
        if callback is not None or namespace != NAMESPACE or not _one_argument(data):
            # Not a shape modeldeck sends (an ack request, no or several arguments, another
            # namespace): python-socketio's own emit, never held.
            await super().emit(event, data, namespace, room=room, skip_sid=skip_sid,
                               callback=callback, **kwargs)  # fmt: skip
            return
        skip = set(skip_sid) if isinstance(skip_sid, list) else {skip_sid}
        direct = room is not None and self.eio_sid_from_sid(room, namespace) is not None
        holds = {} if direct else self._holds
        ready: list[str] = []  # engine.io sids
        held: list[tuple[str, str]] = []
        for sid, eio_sid in self.get_participants(namespace, room):
            if sid in skip:
                continue
            if sid in holds:
                held.append((sid, eio_sid))
            else:
                ready.append(eio_sid)
        batch = _BATCH.get()
        if batch is not None:
            batch.counts.append(len(ready) + len(held))
        if not ready and not held:
            return  # nobody listens: nothing is encoded
        outgoing = Outgoing.of(event, data)
        if not direct:
            self.stats.broadcasts += 1
        for sid, eio_sid in held:
            hold = self._holds[sid]
            if len(hold) < self.max_held:
                hold.append(outgoing)
            elif self.transmitter is not None:
                await self.transmitter.cut_off(eio_sid, "too many events arrived during catch-up")
        if ready:
            await self._send(outgoing, ready, room, skip | {sid for sid, _ in held})

    async def disconnect(self, sid: str, namespace: str, **kwargs: Any) -> Any:
        self._holds.pop(sid, None)
        return await super().disconnect(sid, namespace, **kwargs)

    # -- holding -------------------------------------------------------------------

    def hold(self, sid: str) -> None:
        """Keep room broadcasts for ``sid`` aside until :meth:`release`."""
        self._holds[sid] = []

    async def release(self, sid: str, *, after_seq: int) -> None:
        """Send the held events newer than ``after_seq`` (and unsequenced ones), stop holding.

        The hold stays in place until its list is empty, and is removed with no await
        after that check: whatever is broadcast meanwhile joins the list, so nothing
        can overtake a held event.
        """
        hold = self._holds.get(sid)
        eio_sid = self.eio_sid_from_sid(sid, NAMESPACE)
        while hold:
            outgoing = hold.pop(0)  # the same encoding every other recipient got
            if eio_sid is not None and (outgoing.seq is None or outgoing.seq > after_seq):
                await self._send(outgoing, [eio_sid], sid, set())
        self._holds.pop(sid, None)

    # -- coalescing ----------------------------------------------------------------

    @contextlib.contextmanager
    def coalescing(self) -> Iterator[list[int]]:
        """Within the block, each client's sends are collected and written at once on
        exit (fast path): a burst of events costs one socket write per client. Yields
        the recipient count of each ``emit`` made in the block, in order."""
        batch = _Batch({} if self.fast else None)
        token = _BATCH.set(batch)
        try:
            yield batch.counts
        finally:
            _BATCH.reset(token)
            for eio_sid, outgoing in (batch.pending or {}).items():
                self._deliver(eio_sid, outgoing)

    # -- sending -------------------------------------------------------------------

    async def _send(
        self, outgoing: Outgoing, ready: list[str], room: str | None, skip: set[Any]
    ) -> None:
        transmitter = self.transmitter
        if transmitter is None or not transmitter.fast:
            await super().emit(outgoing.event, outgoing.data(), NAMESPACE, room=room,
                               skip_sid=list(skip))  # fmt: skip
            self.stats.deliveries += len(ready)
            return
        batch = _BATCH.get()
        pending = batch.pending if batch is not None else None
        for eio_sid in ready:
            if pending is not None:
                pending.setdefault(eio_sid, []).append(outgoing)
            else:
                self._deliver(eio_sid, [outgoing])

    def _deliver(self, eio_sid: str, outgoing: list[Outgoing]) -> None:
        assert self.transmitter is not None
        if self.transmitter.deliver(eio_sid, outgoing):
            self.stats.deliveries += len(outgoing)

    def room_size(self, room: str | None) -> int:
        """Members of ``room`` (None: every connected client) on this process."""
        if self.fast:  # the rooms layout is among what engine.check probes
            return len(self.rooms.get(NAMESPACE, {}).get(room, ()))
        return sum(1 for _ in self.get_participants(NAMESPACE, room))


def _one_argument(data: Any) -> bool:
    """``data`` is sent as the event's one argument (python-socketio expands tuples)."""
    return data is not None and not isinstance(data, tuple)
