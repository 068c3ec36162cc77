"""The SQLite database: one writer connection, one reader connection, WAL mode.

Each read is one ``execute_fetchall`` (one hop to aiosqlite's thread, not three for
execute/fetch/close). Writes are serialised by an asyncio lock around
``BEGIN IMMEDIATE … COMMIT`` on the writer connection: aiosqlite runs a connection on
one thread, but two tasks could still interleave their statements inside one
transaction. Reads use a second connection so they never see another task's
uncommitted rows (WAL lets the reader run beside the writer). Events appended inside a
transaction are handed to ``on_commit`` after COMMIT and before the lock is released,
so their order is commit order.

aiosqlite runs every statement it was given on its thread, in order, whatever happens to
the task that awaits it: a task cancelled while its BEGIN waits for another process's
lock still gets the transaction, later. So every write transaction ends in COMMIT or
ROLLBACK: a failed or cancelled BEGIN is followed by a ROLLBACK, COMMIT and ROLLBACK are
awaited to their end even when the caller is cancelled (the cancellation is raised
afterwards), and a COMMIT that went through hands its events on even if its caller was
cancelled meanwhile. Faults of the disk or the files (full, deleted, read-only) become
``StorageUnavailable`` errors, and ``problem()`` tells ``/health`` about them.
"""

from __future__ import annotations

import asyncio
import faulthandler
import logging
import sqlite3
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import aiosqlite
import orjson

from storage.clock import utc_now_iso
from storage.errors import (
    Conflict,
    DatabaseFileGone,
    DiskFull,
    NotWritable,
    StorageError,
    StorageUnavailable,
    from_sqlite_error,
)
from storage.files import DatabaseFiles
from storage.records import LoggedEvent
from storage.schema import migrate
from storage.secrets import SecretBox

log = logging.getLogger(__name__)

CommitHook = Callable[[Sequence[LoggedEvent]], None]
#: ``(event, topic, payload, prior objects or None)``, as ``Transaction.log_events`` takes.
EventToLog = tuple[str, str, dict[str, Any], dict[str, Any] | None]
T = TypeVar("T")

#: How long ``problem()`` waits for its write check before reporting it unfinished.
WRITE_CHECK_TIMEOUT = 2.0


@dataclass(frozen=True)
class _Outcome:
    """How a statement ended: its error (if any), and whether our task was cancelled."""

    error: BaseException | None
    cancelled: bool


async def _to_the_end(step: Awaitable[object]) -> _Outcome:
    """Await ``step`` until it is over, even if the awaiting task is cancelled meanwhile.

    The statement runs on aiosqlite's thread anyway; what matters is learning how it
    ended, so the connection is never left inside a transaction nobody owns. The caller
    raises ``CancelledError`` itself once it has acted on the outcome.
    """
    future = asyncio.ensure_future(step)
    cancelled = False
    while not future.done():
        try:
            await asyncio.shield(future)
        except asyncio.CancelledError:
            cancelled = True
        except BaseException:  # the statement's own failure: ``future`` keeps it
            break
    error = asyncio.CancelledError() if future.cancelled() else future.exception()
    return _Outcome(error, cancelled)


class Transaction:
    """One open write transaction; collects the events it logs."""

    def __init__(self, conn: aiosqlite.Connection, secrets: SecretBox) -> None:
        self.conn = conn
        self.secrets = secrets
        self.now = utc_now_iso()
        self.events: list[LoggedEvent] = []
        self._reads: dict[str, Any] = {}

    async def execute(self, sql: str, params: Sequence[Any] = ()) -> aiosqlite.Cursor:
        self._reads.clear()
        return await self.conn.execute(sql, params)

    async def returning(self, sql: str, params: Sequence[Any] = ()) -> sqlite3.Row | None:
        """An ``INSERT``/``UPDATE … RETURNING`` statement: the write and its row in one
        trip to the database thread."""
        self._reads.clear()
        rows = await self.conn.execute_fetchall(sql, params)
        return rows[0] if rows else None  # type: ignore[index]

    async def read_once(self, key: str, read: Callable[[], Awaitable[T]]) -> T:
        """``read()``, done once until this transaction next writes.

        Every event of a write reports the registry's counts; each trip to aiosqlite's
        thread waits for the event loop's next turn, which a busy fan-out makes long.
        """
        if key not in self._reads:
            self._reads[key] = await read()
        value: T = self._reads[key]
        return value

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
        (logged,) = await self.log_events([(event, topic, data, prior)])
        return logged

    async def log_events(self, events: Sequence[EventToLog]) -> list[LoggedEvent]:
        """Append several events, in this order, with one statement (one trip to the
        database thread, however many events a write logs)."""
        if not events:
            return []
        rows = [
            (event, topic, orjson.dumps(data), orjson.dumps(prior) if prior is not None else None)
            for event, topic, data, prior in events
        ]
        values = ", ".join("(?, ?, ?, ?, ?)" for _ in rows)
        params = [value for row in rows for value in (*row, self.now)]
        returned = await self.conn.execute_fetchall(
            f"INSERT INTO events (event, topic, data, prior, created_at) VALUES {values}"
            " RETURNING seq",
            params,
        )
        # One statement's rows take consecutive row ids in the order of its VALUES.
        seqs = sorted(int(row[0]) for row in returned)
        logged = [
            LoggedEvent(seq=seq, event=event, topic=topic, body=body, prior=prior)
            for seq, (event, topic, body, prior) in zip(seqs, rows, strict=True)
        ]
        self.events.extend(logged)
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
        self._files = DatabaseFiles(path)
        self._fault: StorageUnavailable | None = None
        self.migrations_applied: list[str] = []
        #: Events up to this seq are known to be pruned (-1: not known yet).
        self._pruned_through = -1

    async def open(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            self._writer = await self._connect()
            await self._writer.execute("PRAGMA journal_mode = WAL")
            self.migrations_applied = await migrate(self._writer)
            self._reader = await self._connect()
            await self._reader.execute("PRAGMA query_only = ON")
        except BaseException:
            await self.close()  # a failed migration must not leave connections behind
            raise
        self._files.remember()
        # SQLite maps the -shm file: if it turns unwritable between our check and its
        # next access, the kernel kills us with SIGBUS. Then at least say where.
        if not faulthandler.is_enabled():
            faulthandler.enable()

    async def _connect(self) -> aiosqlite.Connection:
        # isolation_level=None: we issue BEGIN/COMMIT ourselves.
        conn = await aiosqlite.connect(self.path, isolation_level=None)
        conn.row_factory = sqlite3.Row
        await conn.execute("PRAGMA foreign_keys = ON")
        await conn.execute("PRAGMA busy_timeout = 5000")
        await conn.execute("PRAGMA synchronous = NORMAL")
        return conn

    async def close(self) -> None:
        if self._writer is not None:
            try:
                self._files.check_writable()
            except StorageUnavailable as exc:
                # Closing checkpoints the WAL through the -shm mapping: with unwritable
                # files the kernel may end the process with SIGBUS right here, so say
                # why first. What was committed is in the -wal.
                log.error("closing the database anyway: %s", exc.message)
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
        return list(await self._read(sql, params))

    async def fetchone(self, sql: str, params: Sequence[Any] = ()) -> sqlite3.Row | None:
        rows = await self._read(sql, params)
        return rows[0] if rows else None  # type: ignore[index]

    async def _read(self, sql: str, params: Sequence[Any]) -> Iterable[sqlite3.Row]:
        reader = self.reader
        self._files.check_readable()
        try:
            return await reader.execute_fetchall(sql, params)
        except sqlite3.Error as exc:
            error = from_sqlite_error(exc, self.path)
            if error is None:
                raise
            raise error from exc

    async def problem(self) -> str | None:
        """Why the database cannot be written or read right now; ``None`` when it can.

        For ``/health``. Cheap while all is well (a few ``stat`` calls and one read).
        After a write failed for lack of space or a disk fault, a one-row write is tried,
        so health recovers as soon as the disk does, not at the next client's write.
        """
        writer = self._writer
        if writer is None:
            return "The database is not open."
        try:
            self._files.check_writable()
        except StorageUnavailable as exc:
            return exc.message
        if writer.in_transaction and not self._write_lock.locked():
            return (
                "The database writer is stuck in an open transaction (a rollback failed); "
                "the next write retries the rollback."
            )
        if self._fault is not None:
            fault = self._fault
            try:
                async with asyncio.timeout(WRITE_CHECK_TIMEOUT):
                    await self._check_write()
            except TimeoutError:
                return f"{fault.message} (a write check did not end in {WRITE_CHECK_TIMEOUT:g}s)"
            except Exception as exc:  # whatever stops the check is the answer
                return exc.message if isinstance(exc, StorageError) else repr(exc)
        try:
            await self.fetchone("SELECT 1")
        except Exception as exc:  # any failure means "not healthy"; /health reports it
            return f"The database {self.path} cannot be read: {exc}"
        return None

    async def _check_write(self) -> None:
        async with self.transaction() as tx:
            await tx.execute(
                "INSERT INTO meta (key, value) VALUES ('write_checked_at', ?)"
                " ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                (tx.now,),
            )

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[Transaction]:
        """One write transaction; events it logged go to ``on_commit`` after COMMIT.

        It ends in COMMIT or ROLLBACK whatever is cancelled, and is refused before it
        starts when the database file is gone or cannot be written.
        """
        writer = self._writer
        if writer is None:
            raise StorageError("database is not open")
        async with self._write_lock:
            try:
                self._files.check_writable()
            except StorageUnavailable as exc:
                self._note_fault(exc)
                raise
            if writer.in_transaction:  # only after a ROLLBACK failed: try it again
                log.warning("the database writer was left in a transaction: rolling back")
                await self._roll_back(writer)
            try:
                await writer.execute("BEGIN IMMEDIATE")
            except BaseException as exc:
                # aiosqlite runs a connection's calls in order, even those whose caller
                # is gone: this ROLLBACK runs after the BEGIN and undoes it if it began
                # after all (a cancellation while it waited for another process's lock).
                await self._roll_back(writer)
                error = self._translate(exc)
                if error is exc:
                    raise
                raise error from exc
            tx = Transaction(writer, self.secrets)
            try:
                yield tx
                if tx.events:
                    await self._prune_events(tx, tx.events[-1].seq)
            except BaseException as exc:
                await self._roll_back(writer)
                error = self._translate(exc)
                if error is exc:
                    raise
                raise error from exc
            commit = await _to_the_end(writer.commit())
            if commit.error is not None:
                await self._roll_back(writer)
                self._raise(commit)
            self._writable_again()
            if tx.events and self.on_commit is not None:
                self.on_commit(tx.events)  # committed: published even if we were cancelled
            if commit.cancelled:
                raise asyncio.CancelledError

    async def _roll_back(self, writer: aiosqlite.Connection) -> None:
        """ROLLBACK to its end (a no-op outside a transaction), cancelled or not."""
        outcome = await _to_the_end(writer.rollback())
        if outcome.error is not None:
            log.error("rollback failed on %s: %s (the next write retries it)", self.path,
                      outcome.error)  # fmt: skip
        if outcome.cancelled:
            raise asyncio.CancelledError

    def _raise(self, outcome: _Outcome) -> None:
        """Raise what ended a failed COMMIT: the cancellation first, else its error."""
        if outcome.cancelled:
            raise asyncio.CancelledError from outcome.error
        assert outcome.error is not None
        error = self._translate(outcome.error)
        if error is outcome.error:
            raise error
        raise error from outcome.error

    def _translate(self, exc: BaseException) -> BaseException:
        """SQLite's failures as storage errors; anything else unchanged."""
        if isinstance(exc, sqlite3.IntegrityError):
            return Conflict(f"write rejected by a database constraint: {exc}")
        if isinstance(exc, sqlite3.Error):
            error = from_sqlite_error(exc, self.path)
            if error is not None:
                self._note_fault(error)
                return error
        return exc

    def _note_fault(self, error: StorageError) -> None:
        """Remember (and log once) a fault of the disk or files, for ``problem()``."""
        if not isinstance(error, DiskFull | DatabaseFileGone | NotWritable):
            return  # busy: another connection's doing, not a fault of ours to report
        if self._fault is None or self._fault.message != error.message:
            log.error("%s", error.message)
        self._fault = error

    def _writable_again(self) -> None:
        if self._fault is not None:
            log.warning("the database %s takes writes again", self.path)
            self._fault = None

    async def _prune_events(self, tx: Transaction, last_seq: int) -> None:
        """Keep the newest ``event_retention`` events, and at most 1 % more: the delete
        (an indexed range on the primary key, never a scan) runs once that much is over,
        not in every write, which saves most writes a trip to the database thread."""
        below = last_seq - self.event_retention
        if below < self._pruned_through + self.event_retention // 100:
            return
        await tx.execute("DELETE FROM events WHERE seq <= ?", (below,))
        self._pruned_through = below
