"""The database's files on disk, checked before SQLite touches them.

SQLite keeps the files it opened: delete or replace ``modeldeck.db`` under a running
server and it goes on writing into the deleted file, answering every write with
success until a restart shows that all of it is gone. And it maps the ``-shm`` file
into memory: once that file cannot be written (``chattr +i``), the next access to the
mapping kills the process with SIGBUS, which Python cannot catch. So before each write
transaction the main file's identity (``st_dev``, ``st_ino`` at open) and the
writability of the three files are checked, and before each read the ``-shm`` file's;
a few ``stat``/``access`` calls, no SQL. A change between a check and SQLite's access
is still possible; ``faulthandler`` (enabled by ``Database.open``) then at least writes
why the process died.
"""

from __future__ import annotations

import os
from pathlib import Path

from storage.errors import DatabaseFileGone, NotWritable, StorageUnavailable


class DatabaseFiles:
    """``<db>``, ``<db>-wal`` and ``<db>-shm``, and the identity of ``<db>`` once opened."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.wal = path.with_name(path.name + "-wal")
        self.shm = path.with_name(path.name + "-shm")
        self._identity: tuple[int, int] | None = None

    def remember(self) -> None:
        """Record which file SQLite has open (call once the connections are open)."""
        stat = os.stat(self.path)
        self._identity = (stat.st_dev, stat.st_ino)

    def check_writable(self) -> None:
        """Raise unless the file opened is still at its path and all three can be written."""
        try:
            stat = os.stat(self.path)
        except FileNotFoundError:
            raise DatabaseFileGone(
                f"The database file {self.path} was deleted while modeldeck was running: "
                "changes are refused because they would be lost. Put the file back, or "
                "restart modeldeck to start a new database."
            ) from None
        if self._identity is not None and (stat.st_dev, stat.st_ino) != self._identity:
            raise DatabaseFileGone(
                f"The database file {self.path} was replaced by another file while modeldeck "
                "was running: changes are refused because they would go to the old one. "
                "Restart modeldeck to use the new file."
            )
        for path in (self.path, self.wal, self.shm):
            if not os.access(path, os.W_OK):
                raise self._not_writable(path)

    def check_readable(self) -> None:
        """Raise if reading could touch an unwritable ``-shm`` mapping (and die of SIGBUS)."""
        if not os.access(self.shm, os.W_OK) and self.shm.exists():
            raise self._not_writable(self.shm)

    def _not_writable(self, path: Path) -> StorageUnavailable:
        if not path.exists():
            return DatabaseFileGone(
                f"The database file {path} was deleted while modeldeck was running: changes "
                "are refused because they would be lost. Restart modeldeck."
            )
        return NotWritable(
            f"The database file {path} cannot be written (read-only or immutable, e.g. "
            "chattr +i): changes are refused until it can be."
        )
