"""Errors raised by the storage layer.

    StorageError
    ├── NotFound      a row the caller named does not exist
    └── Conflict      the write would break a uniqueness or reference rule

Each carries the offending ``field`` (camelCase, as clients spell it) when there is
one, so the HTTP and socket layers can name it without parsing messages.
"""

from __future__ import annotations


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
