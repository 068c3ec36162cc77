"""Pull-job rows: SQL only. The live job and its progress math are ``server.ollama.jobs``.

A row is written when a job is created, on each status change, now and then while it
downloads, and when it finishes; the partial unique index of migration 0002 keeps one
active (queued/downloading/verifying) job per model even if two writers raced.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass, fields
from typing import Any

from storage.database import Database, Transaction

ReadHandle = Database | Transaction
ACTIVE_STATUSES = ("queued", "downloading", "verifying")
_ACTIVE_SQL = "status IN ('queued', 'downloading', 'verifying')"


@dataclass(frozen=True, slots=True)
class PullJobRow:
    """One ``pull_jobs`` row, column for column."""

    id: str
    model: str
    status: str
    digest: str | None
    total: int
    completed: int
    message: str
    error: str | None
    created_at: str
    started_at: str | None
    finished_at: str | None
    updated_at: str | None
    owner: str | None = None  # the id of the process running it (server.instance)
    #: When a cancel was asked through another process (the owner acts on it).
    cancel_requested: str | None = None

    @classmethod
    def from_row(cls, row: sqlite3.Row) -> PullJobRow:
        return cls(**{f.name: row[f.name] for f in fields(cls)})


_COLUMNS = tuple(f.name for f in fields(PullJobRow))
_UPDATABLE = frozenset(_COLUMNS) - {"id", "model", "created_at", "owner", "cancel_requested"}


async def insert(tx: Transaction, row: PullJobRow) -> None:
    placeholders = ", ".join("?" for _ in _COLUMNS)
    values = [getattr(row, column) for column in _COLUMNS]
    await tx.execute(
        f"INSERT INTO pull_jobs ({', '.join(_COLUMNS)}) VALUES ({placeholders})", values
    )


async def update(tx: Transaction, job_id: str, changes: dict[str, Any]) -> None:
    """Set the given columns (any but id, model, created_at) of one job."""
    unknown = set(changes) - _UPDATABLE
    if unknown:
        raise ValueError(f"not updatable pull_jobs columns: {sorted(unknown)}")
    if not changes:
        return
    assignments = ", ".join(f"{column} = ?" for column in changes)
    await tx.execute(
        f"UPDATE pull_jobs SET {assignments} WHERE id = ?", [*changes.values(), job_id]
    )


async def get(db: ReadHandle, job_id: str) -> PullJobRow | None:
    row = await db.fetchone("SELECT * FROM pull_jobs WHERE id = ?", (job_id,))
    return PullJobRow.from_row(row) if row is not None else None


async def latest_for_model(db: ReadHandle, model: str) -> PullJobRow | None:
    row = await db.fetchone(
        "SELECT * FROM pull_jobs WHERE model = ? COLLATE NOCASE"
        " ORDER BY created_at DESC, rowid DESC LIMIT 1",
        (model,),
    )
    return PullJobRow.from_row(row) if row is not None else None


async def list_recent(
    db: ReadHandle, *, status: str | None = None, model: str | None = None, limit: int = 100
) -> list[PullJobRow]:
    """Newest first, optionally one status and/or one model."""
    clauses: list[str] = []
    params: list[Any] = []
    if status is not None:
        clauses.append("status = ?")
        params.append(status)
    if model is not None:
        clauses.append("model = ? COLLATE NOCASE")  # Ollama compares names without case
        params.append(model)
    where = f" WHERE {' AND '.join(clauses)}" if clauses else ""
    rows = await db.fetchall(
        f"SELECT * FROM pull_jobs{where} ORDER BY created_at DESC, rowid DESC LIMIT ?",
        [*params, limit],
    )
    return [PullJobRow.from_row(row) for row in rows]


async def fail_orphaned(tx: Transaction, message: str, now: str, live: list[str]) -> list[str]:
    """Mark failed every active job whose process is not in ``live``; return their ids.

    A job without an owner was left by an older version. Jobs of live processes, this
    one's included, are left alone.
    """
    orphaned = (
        f"{_ACTIVE_SQL} AND (owner IS NULL OR owner NOT IN ({','.join('?' * len(live))}))"
    )
    rows = await tx.fetchall(f"SELECT id FROM pull_jobs WHERE {orphaned}", live)
    if rows:
        await tx.execute(
            f"UPDATE pull_jobs SET status = 'failed', error = ?, message = ?, finished_at = ?,"
            f" updated_at = ? WHERE {orphaned}",
            (message, message, now, now, *live),
        )
    return [row["id"] for row in rows]


async def active_for_model(db: ReadHandle, model: str) -> PullJobRow | None:
    row = await db.fetchone(
        f"SELECT * FROM pull_jobs WHERE model = ? COLLATE NOCASE AND {_ACTIVE_SQL}", (model,)
    )
    return PullJobRow.from_row(row) if row is not None else None


async def others_and(
    db: ReadHandle, owner: str, ids: list[str], changed_since: str
) -> list[PullJobRow]:
    """Active jobs other processes run, their jobs written at or after ``changed_since``
    (whatever their state), and the jobs ``ids``."""
    rows = await db.fetchall(
        f"SELECT * FROM pull_jobs WHERE owner IS NOT ? AND ({_ACTIVE_SQL} OR updated_at >= ?)"
        f" OR id IN ({','.join('?' * len(ids))})",
        [owner, changed_since, *ids],
    )
    return [PullJobRow.from_row(row) for row in rows]


async def request_cancel(tx: Transaction, job_id: str, now: str) -> bool:
    """Ask the process running an active job to cancel it; False if it is not active."""
    cursor = await tx.execute(
        f"UPDATE pull_jobs SET cancel_requested = ? WHERE id = ? AND {_ACTIVE_SQL}",
        (now, job_id),
    )
    return cursor.rowcount > 0


async def cancel_requests(db: ReadHandle, owner: str) -> list[str]:
    """The active jobs of ``owner`` that another process asked to cancel."""
    rows = await db.fetchall(
        f"SELECT id FROM pull_jobs WHERE owner = ? AND cancel_requested IS NOT NULL"
        f" AND {_ACTIVE_SQL}",
        (owner,),
    )
    return [row["id"] for row in rows]


async def prune_finished(tx: Transaction, keep: int) -> None:
    """Keep the newest ``keep`` finished jobs; active ones are never pruned."""
    await tx.execute(
        f"DELETE FROM pull_jobs WHERE NOT ({_ACTIVE_SQL}) AND rowid NOT IN ("
        f"SELECT rowid FROM pull_jobs WHERE NOT ({_ACTIVE_SQL})"
        " ORDER BY created_at DESC, rowid DESC LIMIT ?)",
        (keep,),
    )
