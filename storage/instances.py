"""The processes sharing this database, and their heartbeats (SQL only).

Times are Unix seconds from ``time.time()``: every process of one SQLite file runs on
one machine, so they share a clock.
"""

from __future__ import annotations

from dataclasses import dataclass

from storage.database import Database, Transaction


@dataclass(frozen=True, slots=True)
class InstanceRow:
    id: str
    name: str
    pid: int
    started_at: str
    heartbeat: float


async def beat(tx: Transaction, row: InstanceRow) -> None:
    """Register the process or renew its heartbeat."""
    await tx.execute(
        "INSERT INTO instances (id, name, pid, started_at, heartbeat) VALUES (?, ?, ?, ?, ?)"
        " ON CONFLICT (id) DO UPDATE SET heartbeat = excluded.heartbeat",
        (row.id, row.name, row.pid, row.started_at, row.heartbeat),
    )


async def remove(tx: Transaction, instance_id: str) -> None:
    await tx.execute("DELETE FROM instances WHERE id = ?", (instance_id,))


async def forget_dead(tx: Transaction, alive_since: float) -> list[str]:
    """Drop the rows of processes whose last heartbeat is older than ``alive_since``."""
    rows = await tx.fetchall("SELECT id FROM instances WHERE heartbeat < ?", (alive_since,))
    await tx.execute("DELETE FROM instances WHERE heartbeat < ?", (alive_since,))
    return [row["id"] for row in rows]


async def live(db: Database, alive_since: float) -> list[InstanceRow]:
    rows = await db.fetchall(
        "SELECT * FROM instances WHERE heartbeat >= ? ORDER BY started_at", (alive_since,)
    )
    return [InstanceRow(r["id"], r["name"], r["pid"], r["started_at"], r["heartbeat"])
            for r in rows]  # fmt: skip
