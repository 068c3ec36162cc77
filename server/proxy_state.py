"""What ``proxy:status`` reports about supervised proxy processes.

The supervisor implements ``ProxyState``; until one is configured, ``NoProxy`` reports
``stopped`` with no process blocks.
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


class NoProxy:
    """No proxy processes are supervised."""

    def snapshot(self) -> ProxySnapshot:
        return ProxySnapshot(status="stopped", message="no proxy processes are configured")
