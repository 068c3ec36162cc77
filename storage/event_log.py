"""Reading the event log (the outbox the write transactions append to)."""

from __future__ import annotations

from collections.abc import Collection

from storage.database import Database
from storage.records import LoggedEvent


async def current_seq(db: Database) -> int:
    """The highest seq ever assigned (0 for a fresh database), pruned rows included."""
    row = await db.fetchone("SELECT seq FROM sqlite_sequence WHERE name = 'events'")
    return int(row["seq"]) if row else 0


async def oldest_seq(db: Database) -> int | None:
    row = await db.fetchone("SELECT MIN(seq) AS seq FROM events")
    return int(row["seq"]) if row and row["seq"] is not None else None


async def since(
    db: Database,
    seq: int,
    *,
    limit: int,
    topics: Collection[str] | None = None,
    until: int | None = None,
    with_prior: bool = False,
) -> list[LoggedEvent]:
    """Events with ``seq`` greater than the given one (up to ``until``), oldest first;
    ``with_prior`` also reads what registry events' objects were before them."""
    params: list[object] = [seq]
    topic_clause = ""
    if until is not None:
        topic_clause += " AND seq <= ?"
        params.append(until)
    if topics is not None:
        topic_clause += f" AND topic IN ({','.join('?' * len(topics))})"
        params += list(topics)
    rows = await db.fetchall(
        f"SELECT seq, event, topic, data{', prior' if with_prior else ''} FROM events"
        f" WHERE seq > ?{topic_clause} ORDER BY seq LIMIT ?",
        [*params, limit],
    )
    return [
        LoggedEvent(
            seq=r["seq"],
            event=r["event"],
            topic=r["topic"],
            body=bytes(r["data"]),
            prior=bytes(r["prior"]) if with_prior and r["prior"] is not None else None,
        )
        for r in rows
    ]


async def data_version(db: Database) -> int:
    """SQLite's ``PRAGMA data_version`` on the reader connection: it changes whenever
    another connection, of this process or another, committed. Cheap enough to poll."""
    row = await db.fetchone("PRAGMA data_version")
    assert row is not None
    return int(row[0])
