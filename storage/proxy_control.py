"""The proxy-supervision lease, the wished state of each proxy process, and the
supervising process's snapshot of them (SQL only; see ``server.supervisor.lease``).

Times are Unix seconds (all processes of one SQLite file share a machine's clock).
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass

from storage.database import Database, Transaction


@dataclass(frozen=True, slots=True)
class Wish:
    name: str
    running: bool
    requested: float
    applied: float | None
    outcome: str | None


async def take_lease(
    tx: Transaction, name: str, holder: str, now: float, ttl: float, live: Collection[str]
) -> str:
    """Renew the lease if ``holder`` has it, take it if it is free, expired or held by a
    process not in ``live``; returns the holder after that."""
    await tx.execute(
        "INSERT INTO leases (name, holder, expires) VALUES (?, ?, ?)"
        " ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, expires = excluded.expires"
        f" WHERE leases.holder = excluded.holder OR leases.expires < ?"
        f" OR leases.holder NOT IN ({','.join('?' * len(live))})",
        (name, holder, now + ttl, now, *live),
    )
    row = await tx.fetchone("SELECT holder FROM leases WHERE name = ?", (name,))
    assert row is not None
    return str(row["holder"])


async def release_lease(tx: Transaction, name: str, holder: str) -> None:
    await tx.execute("DELETE FROM leases WHERE name = ? AND holder = ?", (name, holder))


async def wish(tx: Transaction, names: Collection[str], running: bool, now: float) -> None:
    """Ask for ``names`` to be running (or stopped), as of ``now``."""
    for name in names:
        await tx.execute(
            "INSERT INTO proxy_wishes (name, running, requested) VALUES (?, ?, ?)"
            " ON CONFLICT (name) DO UPDATE SET running = excluded.running,"
            " requested = excluded.requested, applied = NULL, outcome = NULL",
            (name, int(running), now),
        )


async def clear_wishes(tx: Transaction) -> None:
    await tx.execute("DELETE FROM proxy_wishes")


async def applied(tx: Transaction, name: str, requested: float, outcome: str | None) -> None:
    """The holder acted on the request made at ``requested`` (unless a newer one came)."""
    await tx.execute(
        "UPDATE proxy_wishes SET applied = ?, outcome = ? WHERE name = ? AND requested = ?",
        (requested, outcome, name, requested),
    )


async def wishes(db: Database) -> list[Wish]:
    rows = await db.fetchall("SELECT * FROM proxy_wishes ORDER BY name")
    return [
        Wish(r["name"], bool(r["running"]), r["requested"], r["applied"], r["outcome"])
        for r in rows
    ]


async def save_snapshot(tx: Transaction, holder: str, body: bytes, now: float) -> None:
    await tx.execute(
        "INSERT INTO proxy_snapshot (id, holder, body, saved_at) VALUES (1, ?, ?, ?)"
        " ON CONFLICT (id) DO UPDATE SET holder = excluded.holder, body = excluded.body,"
        " saved_at = excluded.saved_at",
        (holder, body, now),
    )


async def load_snapshot(db: Database) -> tuple[str, bytes, float] | None:
    row = await db.fetchone("SELECT holder, body, saved_at FROM proxy_snapshot WHERE id = 1")
    return (row["holder"], bytes(row["body"]), row["saved_at"]) if row is not None else None
