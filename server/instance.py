"""Which modeldeck process this is, among the several that may share one database.

``/health`` and ``/metrics`` name it, so behind a balancer one can tell which process
answered; pull jobs record it as their owner, and the proxy-supervision lease as its
holder. ``id`` is new on every start (a pid may be reused after a crash); ``name`` is
for people: ``--process-name``, else ``host:pid``.
"""

from __future__ import annotations

import os
import socket
import uuid
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Instance:
    name: str
    pid: int = field(default_factory=os.getpid)
    id: str = field(default_factory=lambda: uuid.uuid4().hex[:12])

    @classmethod
    def current(cls, name: str | None) -> Instance:
        pid = os.getpid()
        return cls(name=name or f"{socket.gethostname()}:{pid}", pid=pid)
