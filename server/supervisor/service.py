"""The proxy supervisor: the configured proxy processes, as ``proxy:status`` sees them.

``Supervisor`` implements ``ProxyState``. Every state change of any process (starting,
running, a crash, stopped, a failed start) calls ``on_change``, which the app wires to
``RegistryService.publish_proxy_status`` so the change is logged and broadcast. The
supervisor is opened and closed by a cleanup context after storage (``server.contexts``),
so closing it (stopping every child) happens before the database closes.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Iterable
from pathlib import Path

import aiohttp

from server.errors import ResourceNotFound
from server.registry.proxy_state import ProxySnapshot
from server.settings import Settings
from server.supervisor.config import ProcessSpec, load_process_specs
from server.supervisor.logs import ProcessLog
from server.supervisor.process import ManagedProcess, ProcessState

log = logging.getLogger("modeldeck.supervisor")

OnChange = Callable[[], Awaitable[None]]


class Supervisor:
    """Owns every ``ManagedProcess``. One event loop; methods may run concurrently."""

    def __init__(self, specs: Iterable[ProcessSpec], log_dir: Path) -> None:
        self.on_change: OnChange | None = None
        self._session: aiohttp.ClientSession | None = None
        self.processes: dict[str, ManagedProcess] = {
            spec.name: ManagedProcess(
                spec, ProcessLog(log_dir / f"{spec.name}.log"), self._http, self._changed
            )
            for spec in specs
        }

    @classmethod
    def from_settings(cls, settings: Settings) -> Supervisor:
        return cls(load_process_specs(settings), settings.proxy_logs.resolve())

    def _http(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession()
        return self._session

    async def _changed(self) -> None:
        if self.on_change is not None:
            await self.on_change()

    # -- ProxyState ------------------------------------------------------------------

    def snapshot(self) -> ProxySnapshot:
        processes = list(self.processes.values())
        states = {p.state for p in processes}
        if not processes:
            status = "stopped"
        elif states == {ProcessState.RUNNING}:
            status = "running"
        elif ProcessState.CRASHED in states:
            status = "partial"
        elif ProcessState.STARTING in states:
            status = "starting"
        elif ProcessState.RUNNING in states:
            status = "partial"
        else:
            status = "stopped"
        message = "; ".join(p.message for p in processes) or "no proxy processes are configured"
        return ProxySnapshot(
            status=status, processes={p.spec.name: p.block() for p in processes}, message=message
        )

    # -- control ---------------------------------------------------------------------

    def get(self, name: str) -> ManagedProcess:
        try:
            return self.processes[name]
        except KeyError:
            known = ", ".join(self.processes) or "none"
            raise ResourceNotFound(
                f"Proxy process '{name}' not found (configured: {known})",
                details={"field": "name"},
            ) from None

    def select(self, name: str | None) -> list[ManagedProcess]:
        return list(self.processes.values()) if name is None else [self.get(name)]

    def open(self) -> None:
        """Open every process's log file; before the first start."""
        for process in self.processes.values():
            process.output.open()

    async def start(self, name: str | None = None) -> list[ManagedProcess]:
        """Start the named process, or all; returns those whose start failed."""
        chosen = self.select(name)
        await asyncio.gather(*(p.start() for p in chosen))
        return [p for p in chosen if p.state is ProcessState.FAILED]

    async def stop(self, name: str | None = None) -> None:
        await asyncio.gather(*(p.stop() for p in self.select(name)))

    async def close(self) -> None:
        """Stop every child (SIGTERM, then SIGKILL after each grace) and close the logs."""
        try:
            await self.stop()
        finally:
            for process in self.processes.values():
                process.output.close()
            if self._session is not None:
                await self._session.close()
