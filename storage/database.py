"""The SQLite database: one writer connection, one reader connection, WAL mode.

Each read is one ``execute_fetchall`` (one hop to aiosqlite's thread, not three for
execute/fetch/close). Writes are serialised by an asyncio lock around
``BEGIN IMMEDIATE … COMMIT`` on the writer connection: aiosqlite runs a connection on
one thread, but two tasks could still interleave their statements inside one
transaction. Reads use a second connection so they never see another task's
uncommitted rows (WAL lets the reader run beside the writer). Events appended inside a
transaction are handed to ``on_commit`` after COMMIT and before the lock is released,
so their order is commit order.
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import aiosqlite
import orjson

from storage.clock import utc_now_iso
from storage.errors import Conflict, StorageError
from storage.records import LoggedEvent
from storage.schema import migrate
from storage.secrets import SecretBox

log = logging.getLogger(__name__)

CommitHook = Callable[[Sequence[LoggedEvent]], None]


class Transaction:
    """One open write transaction; collects the events it logs."""

    def __init__(self, conn: aiosqlite.Connection, secrets: SecretBox) -> None:
        self.conn = conn
        self.secrets = secrets
        self.now = utc_now_iso()
        self.events: list[LoggedEvent] = []

    async def execute(self, sql: str, params: Sequence[Any] = ()) -> aiosqlite.Cursor:
        return await self.conn.execute(sql, params)

    async def fetchone(self, sql: str, params: Sequence[Any] = ()) -> sqlite3.Row | None:
        rows = await self.conn.execute_fetchall(sql, params)
        return rows[0] if rows else None  # type: ignore[index]

    async def fetchall(self, sql: str, params: Sequence[Any] = ()) -> list[sqlite3.Row]:
        return list(await self.conn.execute_fetchall(sql, params))

    async def log_event(
        self,
        event: str,
        topic: str,
        data: dict[str, Any],
        prior: dict[str, Any] | None = None,
    ) -> LoggedEvent:
        """Append an event to the outbox in this transaction; its row id is its ``seq``.

        ``prior`` (registry events) is what the changed objects were before, kept beside
        the payload so a full-format replay can rebuild the registry as of each event.
        """
        body = orjson.dumps(data)
        prior_json = orjson.dumps(prior) if prior is not None else None
        cursor = await self.conn.execute(
            "INSERT INTO events (event, topic, data, prior, created_at) VALUES (?, ?, ?, ?, ?)",
            (event, topic, body, prior_json, self.now),
        )
        seq = cursor.lastrowid
        assert seq is not None
        logged = LoggedEvent(seq=seq, event=event, topic=topic, body=body, prior=prior_json)
        self.events.append(logged)
        return logged


class Database:
    """Owns the connections; hands out read access and write transactions."""

    def __init__(self, path: Path, secrets: SecretBox, *, event_retention: int = 10_000) -> None:
        self.path = path
        self.secrets = secrets
        self.event_retention = event_retention
        self.on_commit: CommitHook | None = None
        self._writer: aiosqlite.Connection | None = None
        self._reader: aiosqlite.Connection | None = None
        self._write_lock = asyncio.Lock()
        self.migrations_applied: list[str] = []

    async def open(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._writer = await self._connect()
        await self._writer.execute("PRAGMA journal_mode = WAL")
        self.migrations_applied = await migrate(self._writer)
        self._reader = await self._connect()
        await self._reader.execute("PRAGMA query_only = ON")

    async def _connect(self) -> aiosqlite.Connection:
        # isolation_level=None: we issue BEGIN/COMMIT ourselves.
        conn = await aiosqlite.connect(self.path, isolation_level=None)
        conn.row_factory = sqlite3.Row
        await conn.execute("PRAGMA foreign_keys = ON")
        await conn.execute("PRAGMA busy_timeout = 5000")
        await conn.execute("PRAGMA synchronous = NORMAL")
        return conn

    async def close(self) -> None:
        for conn in (self._reader, self._writer):
            if conn is not None:
                await conn.close()
        self._reader = self._writer = None

    @property
    def reader(self) -> aiosqlite.Connection:
        if self._reader is None:
            raise StorageError("database is not open")
        return self._reader

    async def fetchall(self, sql: str, params: Sequence[Any] = ()) -> list[sqlite3.Row]:
        return list(await self.reader.execute_fetchall(sql, params))

    async def fetchone(self, sql: str, params: Sequence[Any] = ()) -> sqlite3.Row | None:
        rows = await self.reader.execute_fetchall(sql, params)
        return rows[0] if rows else None  # type: ignore[index]

    async def ping(self) -> bool:
        try:
            await self.fetchone("SELECT 1")
        except Exception:  # any failure means "not healthy"; /health reports it
            return False
        return True

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[Transaction]:
        """One write transaction; events it logged go to ``on_commit`` after COMMIT."""
        if self._writer is None:
            raise StorageError("database is not open")
        async with self._write_lock:
            conn = self._writer
            await conn.execute("BEGIN IMMEDIATE")
            tx = Transaction(conn, self.secrets)
            try:
                yield tx
                if tx.events:
                    await self._prune_events(tx, tx.events[-1].seq)
            except BaseException as exc:
                await conn.rollback()
                if isinstance(exc, sqlite3.IntegrityError):
                    raise Conflict(f"write rejected by a database constraint: {exc}") from exc
                raise
            await conn.commit()
            if tx.events and self.on_commit is not None:
                self.on_commit(tx.events)

    async def _prune_events(self, tx: Transaction, last_seq: int) -> None:
        # An indexed range delete on the primary key: usually one row, never a scan.
        await tx.execute("DELETE FROM events WHERE seq <= ?", (last_seq - self.event_retention,))
