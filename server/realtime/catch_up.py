"""What a (re)connecting client is owed: the events it missed, or a reset.

A client connecting with ``auth: {lastSeq: N}`` gets every logged event with
``seq > N`` in its topics, oldest first; if the log no longer reaches back to ``N``
(or ``N`` is ahead of the log, e.g. a wiped database) it gets ``events:reset`` and
should refetch its state. See ``SocketHub._welcome`` for how the seam with live
events is kept gap-free.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from typing import Any

from events.mirror import RegistryMirror
from events.names import Format
from events.payloads import EventsReset
from storage import event_log
from storage.database import Database
from storage.records import LoggedEvent

PAGE = 500


@dataclass(frozen=True)
class Reset:
    oldest_seq: int | None
    current_seq: int

    def payload(self) -> dict[str, Any]:
        return EventsReset(oldest_seq=self.oldest_seq, current_seq=self.current_seq).model_dump(
            by_alias=True
        )


def parse_last_seq(auth: Any) -> int | None:
    """``auth.lastSeq`` as a non-negative int, or None when absent or unusable."""
    value = auth.get("lastSeq") if isinstance(auth, dict) else None
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        return None
    try:
        number = int(value)
    except ValueError:
        return None
    return number if number >= 0 else None


async def missed_events(
    db: Database,
    last_seq: int,
    upper: int,
    topics: Collection[str] | None,
    *,
    with_prior: bool = False,
) -> list[LoggedEvent] | Reset:
    """Logged events in ``(last_seq, upper]`` for ``topics`` (None: all), or a Reset if
    out of reach; ``with_prior`` also reads what each registry event replaced."""
    if last_seq >= upper:
        return [] if last_seq == upper else Reset(await event_log.oldest_seq(db), upper)
    oldest = await event_log.oldest_seq(db)
    if oldest is None or last_seq < oldest - 1:
        return Reset(oldest, upper)
    found: list[LoggedEvent] = []
    cursor = last_seq
    while cursor < upper:
        page = await event_log.since(
            db, cursor, limit=PAGE, topics=topics, until=upper, with_prior=with_prior
        )
        if not page:
            break
        found.extend(page)
        cursor = page[-1].seq
    return found


async def missed_in_format(
    db: Database,
    mirror: RegistryMirror,
    last_seq: int,
    upper: int,
    topics: list[str],
    fmt: Format,
) -> list[tuple[int, str, bytes]] | Reset:
    """The missed events as sent to a client of format ``fmt``.

    Delta: the logged payloads. Full: each event with ``items`` as the registry was at
    that event, rebuilt from a copy of the mirror taken now (as of ``upper``, before
    any await) by undoing the events backwards; so every event of the window is read,
    whatever the client's topics, and those of its topics are sent.
    """
    if fmt == Format.DELTA:
        found = await missed_events(db, last_seq, upper, topics)
        if isinstance(found, Reset):
            return found
        return [(e.seq, e.event, e.payload_json()) for e in found]
    state = mirror.capture()
    assert state.seq == upper, (state.seq, upper)
    everything = await missed_events(db, last_seq, upper, None, with_prior=True)
    if isinstance(everything, Reset):
        return everything
    bodies = state.replay_full(everything)
    wanted = set(topics)
    return [
        (e.seq, e.event, body)
        for e, body in zip(everything, bodies, strict=True)
        if e.topic in wanted
    ]
