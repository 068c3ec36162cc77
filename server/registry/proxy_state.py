"""What ``proxy:status`` reports about supervised proxy processes.

The supervisor (``server.supervisor.service``) implements ``ProxyState``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

from events.payloads import ProcessBlock


@dataclass(frozen=True)
class ProxySnapshot:
    status: str
    processes: dict[str, ProcessBlock] = field(default_factory=dict)
    message: str = ""


class ProxyState(Protocol):
    def snapshot(self) -> ProxySnapshot: ...

