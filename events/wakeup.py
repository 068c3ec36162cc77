"""Wake-ups between the processes of one database: "I committed, look now".

The log tailer asks SQLite every ``TAIL_INTERVAL`` whether another process committed,
so a client of one process hears of a write through another up to that interval late.
A process that commits events also sends a one-byte datagram to every other process of
the same database, whose tailer then looks at once. The polling stays: a datagram that
is lost, or a peer that cannot be reached, costs at most the interval.

Each process binds a Unix datagram socket in a directory named after the database (its
resolved path, hashed, under the temp dir; mode 0700, so only the same user can wake
it). A process killed with SIGKILL leaves its socket file behind: the first send that
finds nobody reading it removes it. Anything that fails here (a path too long for a
socket, an unwritable temp dir) leaves the process on polling alone, with one log line.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import os
import secrets
import socket
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

log = logging.getLogger(__name__)

#: How long the list of peers is reused before the directory is read again.
PEERS_TTL = 1.0


def wakeup_dir(db_path: Path) -> Path:
    """Where the processes of ``db_path`` (on this machine, for this user) meet."""
    digest = hashlib.sha256(str(db_path.resolve()).encode()).hexdigest()[:16]
    return Path(tempfile.gettempdir()) / f"modeldeck-{os.getuid()}-{digest}"


class Wakeups:
    """This process's wake-up socket, and its sends to the others. One event loop."""

    def __init__(self, db_path: Path) -> None:
        self.dir = wakeup_dir(db_path)
        self.path = self.dir / f"{os.getpid()}-{secrets.token_hex(4)}.sock"
        self._sock: socket.socket | None = None
        self._peers: list[Path] = []
        self._peers_read = float("-inf")
        self._on_wake: Callable[[], None] | None = None
        #: Wake-ups received and sent (for /metrics).
        self.received = 0
        self.sent = 0

    def start(self, on_wake: Callable[[], None]) -> None:
        """Listen for wake-ups; ``on_wake`` runs (on the loop) for each batch of them."""
        try:
            self.dir.mkdir(mode=0o700, exist_ok=True)
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
            sock.setblocking(False)
            sock.bind(str(self.path))
        except OSError as exc:
            log.warning("no wake-ups between processes (%s); polling the log only", exc)
            return
        self._sock, self._on_wake = sock, on_wake
        asyncio.get_running_loop().add_reader(sock.fileno(), self._readable)

    def _readable(self) -> None:
        assert self._sock is not None
        woken = False
        with contextlib.suppress(BlockingIOError):
            while True:  # every datagram waiting: one look at the log covers them all
                self._sock.recv(16)
                woken = True
                self.received += 1
        if woken and self._on_wake is not None:
            self._on_wake()

    def notify(self) -> None:
        """Tell every other process of the database to look at the log now."""
        if self._sock is None:
            return
        for peer in self._peer_paths():
            try:
                self._sock.sendto(b"!", str(peer))
                self.sent += 1
            except BlockingIOError:
                pass  # its queue is full: it has wake-ups waiting already
            except (ConnectionRefusedError, FileNotFoundError):
                # Nobody reads it any more (its process was killed): forget it.
                with contextlib.suppress(OSError):
                    peer.unlink()
                self._peers_read = float("-inf")
            except OSError as exc:
                log.debug("wake-up to %s failed: %r", peer, exc)

    def _peer_paths(self) -> list[Path]:
        now = time.monotonic()
        if now - self._peers_read > PEERS_TTL:
            try:
                self._peers = [p for p in self.dir.glob("*.sock") if p != self.path]
            except OSError:
                self._peers = []
            self._peers_read = now
        return self._peers

    def close(self) -> None:
        if self._sock is None:
            return
        with contextlib.suppress(Exception):
            asyncio.get_running_loop().remove_reader(self._sock.fileno())
        self._sock.close()
        self._sock = None
        with contextlib.suppress(OSError):
            self.path.unlink()
        with contextlib.suppress(OSError):
            self.dir.rmdir()  # the last process of the database tidies up
