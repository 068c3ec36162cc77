"""Errors raised by the storage layer.

    StorageError
    ├── NotFound              a row the caller named does not exist
    ├── Conflict              the write would break a uniqueness or reference rule
    └── StorageUnavailable    the database cannot serve the request now; nothing was written
        ├── DiskFull          no space is left on the disk that holds it (SQLITE_FULL)
        ├── DatabaseFileGone  its file was deleted or replaced while it was open
        └── NotWritable       its files are read-only or immutable, or the disk fails (I/O)

Each carries the offending ``field`` (camelCase, as clients spell it) when there is
one, so the HTTP and socket layers can name it without parsing messages.
``from_sqlite_error`` turns SQLite's own failures into this tree.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path


class StorageError(Exception):
    """Base of every storage error."""

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field


class NotFound(StorageError):
    """The named row does not exist."""


class Conflict(StorageError):
    """The write would violate a unique constraint, a reference or a state rule."""


class StorageUnavailable(StorageError):
    """The database cannot serve this request now (busy, unwritable, gone); retry later."""


class DiskFull(StorageUnavailable):
    """No space left on the disk that holds the database; the write was not saved."""


class DatabaseFileGone(StorageUnavailable):
    """The database file was deleted or replaced while open: writes would be lost."""


class NotWritable(StorageUnavailable):
    """A database file is read-only or immutable, or the disk reports I/O errors."""


#: SQLite's primary result codes (the low byte of an extended code) that mean "the
#: storage under the database is failing", not "this statement is wrong".
_FULL, _BUSY, _LOCKED, _READONLY, _IOERR, _CANTOPEN, _PERM = 13, 5, 6, 8, 10, 14, 3


def from_sqlite_error(exc: sqlite3.Error, path: Path) -> StorageError | None:
    """The storage error for a failure of the disk or files under ``path``, else ``None``.

    ``None`` means the error is not about storage (a bad statement is a bug) and should
    propagate as it is. Integrity errors are the caller's business (``Conflict``).
    """
    code = getattr(exc, "sqlite_errorcode", None)
    if code is None:
        return None
    name = getattr(exc, "sqlite_errorname", str(code))
    primary = code & 0xFF
    if primary == _FULL:
        return DiskFull(
            f"The disk holding the database {path} is full: the change was not saved. "
            "Free some space and retry."
        )
    if primary in (_BUSY, _LOCKED):
        return StorageUnavailable(
            f"The database {path} is locked by another connection ({exc}); retry shortly."
        )
    if primary == _IOERR:
        return NotWritable(
            f"The disk under the database {path} failed ({exc}, {name}): the request was "
            "not carried out. Check the disk and the database files."
        )
    if primary in (_READONLY, _CANTOPEN, _PERM):
        return NotWritable(
            f"The database {path} cannot be written ({exc}, {name}): the change was not "
            "saved. Check the files' permissions and attributes."
        )
    return None
