"""A supervised process's output: a rotating log file plus a bounded in-memory tail.

File writes happen on a ``QueueListener`` thread so a chatty child never blocks the
event loop on disk; the tail (the last ``tail_lines`` lines) answers
``GET /api/proxy/logs/{name}`` and fills the message of a failed start.
"""

from __future__ import annotations

import asyncio
import logging
import queue
from collections import deque
from logging.handlers import QueueHandler, QueueListener, RotatingFileHandler
from pathlib import Path

#: A line longer than this is cut, so one runaway line cannot hold memory hostage.
MAX_LINE_BYTES = 8192
READ_CHUNK = 65536
#: Marks the supervisor's own lines in a process's log.
NOTE_PREFIX = "[modeldeck] "


class ProcessLog:
    """Output of one process across its restarts. Single event loop; not thread-safe."""

    def __init__(
        self, path: Path, *, max_bytes: int = 5 * 1024 * 1024, backups: int = 3,
        tail_lines: int = 1000,
    ) -> None:  # fmt: skip
        self.path = path
        self._tail: deque[str] = deque(maxlen=tail_lines)
        self._file = RotatingFileHandler(
            path, maxBytes=max_bytes, backupCount=backups, encoding="utf-8", delay=True
        )
        self._file.setFormatter(logging.Formatter("%(asctime)s %(message)s"))
        self._queue: queue.SimpleQueue[logging.LogRecord] = queue.SimpleQueue()
        self._enqueue = QueueHandler(self._queue)
        self._listener = QueueListener(self._queue, self._file)
        self._open = False

    def open(self) -> None:
        """Start writing to the file (lines written before are kept and written then)."""
        if not self._open:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._listener.start()
            self._open = True

    def write(self, line: str) -> None:
        self._tail.append(line)
        # args=None: the line is the message verbatim, '%' and all.
        record = logging.makeLogRecord({"msg": line, "levelno": logging.INFO, "args": None})
        self._enqueue.handle(record)

    def note(self, text: str) -> None:
        """A line from the supervisor itself (start, exit, signal), told apart by a prefix."""
        self.write(NOTE_PREFIX + text)

    def tail(self, count: int | None = None) -> list[str]:
        lines = list(self._tail)
        return lines if count is None else lines[-count:] if count > 0 else []

    def close(self) -> None:
        """Flush what is queued to disk and close the file."""
        if self._open:
            self._listener.stop()
            self._open = False
        self._file.close()

    async def pump(self, stream: asyncio.StreamReader) -> None:
        """Copy ``stream`` into the log line by line until EOF."""
        pending = b""
        while chunk := await stream.read(READ_CHUNK):
            pending += chunk
            *lines, pending = pending.split(b"\n")
            for raw in lines:
                self.write(_decode(raw))
            if len(pending) > MAX_LINE_BYTES:
                self.write(_decode(pending[:MAX_LINE_BYTES]) + " …[cut]")
                pending = b""
        if pending:
            self.write(_decode(pending))


def _decode(raw: bytes) -> str:
    return raw.rstrip(b"\r").decode("utf-8", errors="replace")
