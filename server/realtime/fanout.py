"""Delivering one event to many clients: encode once, write the same frame to each.

python-socketio's ``emit`` to a room encodes the packet once but then creates a task
per recipient, which queues it for that client's writer task, which re-encodes and
frames it: three task switches and two copies per client. Here a broadcast is encoded
and framed once (``Outgoing``), and for each recipient on an upgraded websocket whose
queue is empty the frame is written straight to the transport. Recipients still on
long-polling, or with packets queued ahead, get the same pre-encoded packet appended
to their engine.io queue, so per-client order is always preserved.

A client that is catching up (replay after a reconnect) is *held*: live events for it
are kept aside until its replay has been written, so the seam has no gap and no
duplicate. Not thread-safe: one event loop.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from typing import Any

import orjson
import socketio
from engineio import packet as eio_packet

from server.realtime.transport import FrameText, QueueLimits, WebSocketRegistry

log = logging.getLogger("modeldeck.socket")
NAMESPACE = "/"


class Outgoing:
    """One event, encoded once as a Socket.IO packet, an engine.io packet and a frame."""

    __slots__ = ("packet", "seq")

    def __init__(self, event: str, payload_json: bytes, seq: int | None = None) -> None:
        """``payload_json`` is the payload already encoded (e.g. the event log's bytes)."""
        self.seq = seq
        # engine.io MESSAGE ("4") carrying a Socket.IO EVENT ("2") on the default namespace.
        packet = b"42[" + orjson.dumps(event) + b"," + payload_json + b"]"
        self.packet = _PreEncoded(FrameText(packet.decode(), packet))

    @classmethod
    def of(cls, event: str, data: Any, seq: int | None = None) -> Outgoing:
        """From a payload not yet encoded."""
        return cls(event, orjson.dumps(data), seq)


class _PreEncoded(eio_packet.Packet):  # type: ignore[misc]
    """An engine.io packet whose encoding is already known."""

    def __init__(self, text: FrameText) -> None:
        super().__init__(eio_packet.MESSAGE, data=text[1:])
        self.text = text

    def encode(self, b64: bool = False) -> FrameText | Any:
        return self.text if not b64 else super().encode(b64)


@dataclass
class Stats:
    broadcasts: int = 0
    deliveries: int = 0
    overflows: int = 0
    queue_high_water: int = 0


@dataclass
class _Hold:
    """Live events kept for a client until its catch-up has been written."""

    events: list[Outgoing] = field(default_factory=list)


class Fanout:
    """Writes events to clients; the one place that knows how bytes reach a socket."""

    def __init__(
        self, sio: socketio.AsyncServer, websockets: WebSocketRegistry, limits: QueueLimits
    ) -> None:
        self.sio = sio
        self.websockets = websockets
        self.limits = limits
        self.stats = Stats()
        self._holds: dict[str, _Hold] = {}
        self._closing: set[asyncio.Future[None]] = set()
        websockets.on_overflow = self._count_overflow

    # -- holding -----------------------------------------------------------------

    def hold(self, sid: str) -> None:
        self._holds[sid] = _Hold()

    def release(self, sid: str, *, after_seq: int) -> int:
        """Write the held events newer than ``after_seq`` (and unsequenced ones), stop holding.

        Synchronous on purpose: nothing can be broadcast between the last held event
        and the end of holding.
        """
        hold = self._holds.pop(sid, None)
        if hold is None:
            return 0
        sent = 0
        for outgoing in hold.events:
            if outgoing.seq is None or outgoing.seq > after_seq:
                sent += self.send(sid, outgoing)
        return sent

    def forget(self, sid: str) -> None:
        self._holds.pop(sid, None)

    # -- delivery ----------------------------------------------------------------

    def broadcast(self, room: str, outgoing: Outgoing) -> int:
        """Deliver to every member of ``room``; returns the number of recipients."""
        return self.broadcast_batch([(room, outgoing)])[0]

    def broadcast_batch(self, items: list[tuple[str, Outgoing] | None]) -> list[int]:
        """Deliver several broadcasts in order (None: nobody listens), one write per client.

        Each client's share of the batch is collected first and written at once, so a
        burst of events costs one socket write per client instead of one per event.
        """
        pending: dict[str, list[Outgoing]] = {}
        counts = []
        participants = self.sio.manager.get_participants
        for item in items:
            if item is None:
                counts.append(0)
                continue
            room, outgoing = item
            self.stats.broadcasts += 1
            count = 0
            for sid, eio_sid in participants(NAMESPACE, room):
                hold = self._holds.get(sid)
                if hold is None:
                    pending.setdefault(eio_sid, []).append(outgoing)
                elif len(hold.events) < self.limits.max_messages:
                    hold.events.append(outgoing)
                else:
                    self._cut_off(eio_sid, "too many events arrived during catch-up")
                    continue
                count += 1
            counts.append(count)
        for eio_sid, outgoing_list in pending.items():
            self._deliver(eio_sid, outgoing_list)
        return counts

    def send(self, sid: str, outgoing: Outgoing) -> int:
        """Deliver to one client, bypassing any hold (used for its own catch-up)."""
        eio_sid = self.sio.manager.eio_sid_from_sid(sid, NAMESPACE)
        if eio_sid is None:
            return 0
        return int(self._deliver(eio_sid, [outgoing]))

    def _deliver(self, eio_sid: str, outgoing: list[Outgoing]) -> bool:
        """Write ``outgoing`` to one client, in order, as one write when possible."""
        socket = self.sio.eio.sockets.get(eio_sid)
        if socket is None or socket.closed or socket.closing:
            return False
        queue = socket.queue
        ws = self.websockets.by_eio_sid.get(eio_sid)
        if ws is not None and socket.upgraded and ws.direct and queue.empty():
            if len(outgoing) == 1:
                frames = outgoing[0].packet.text.frame
            else:
                frames = b"".join(o.packet.text.frame for o in outgoing)
            if not ws.write_frame(frames, messages=len(outgoing)):
                return False
        else:
            size = queue.qsize()
            if size + len(outgoing) > self.limits.max_messages:
                self._cut_off(eio_sid, f"slow consumer: {size} messages queued")
                return False
            for item in outgoing:
                queue.put_nowait(item.packet)
            self.stats.queue_high_water = max(self.stats.queue_high_water, size + len(outgoing))
        self.stats.deliveries += len(outgoing)
        return True

    def _cut_off(self, eio_sid: str, reason: str) -> None:
        log.warning("disconnecting %s: %s", eio_sid, reason)
        self._count_overflow(eio_sid, reason)
        ws = self.websockets.by_eio_sid.get(eio_sid)
        if ws is not None:
            ws.abort()
            return
        socket = self.sio.eio.sockets.get(eio_sid)
        if socket is not None and not socket.closing:
            # abort=True: no CLOSE packet, no waiting on a queue nobody drains.
            task = asyncio.ensure_future(socket.close(wait=False, abort=True))
            self._closing.add(task)
            task.add_done_callback(self._closing.discard)

    def _count_overflow(self, eio_sid: str, reason: str) -> None:
        self.stats.overflows += 1
