"""The router's read-only view of the registry, kept current by ``PRAGMA data_version``.

The router is a separate process from the server that writes the registry, so it
cannot hear the server's commit hook. Instead a background task asks SQLite every
``poll_interval`` seconds for ``PRAGMA data_version``, which changes exactly when
another connection has committed to the file; only then are providers and models
re-read. A request never touches the database: it looks the model up in the
in-memory ``Registry`` of the last load, so a change takes effect within about one
poll interval and costs nothing per request.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sqlite3
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import aiosqlite

from storage.errors import StorageError
from storage.records import ModelRecord, ProviderRecord
from storage.registry import read_registry
from storage.secrets import SecretBox

log = logging.getLogger("modeldeck.router")

LOOPBACK_HOSTS = frozenset({"localhost", "127.0.0.1", "::1"})


@dataclass(frozen=True, slots=True)
class Route:
    """Where requests for one model go, and with which key."""

    model: ModelRecord
    provider: ProviderRecord
    api_key: str | None
    key_error: str | None = None

    @property
    def upstream_model(self) -> str:
        """The provider's name for the model: ``sdkId`` minus a ``<provider sdkId>:`` prefix."""
        sdk_id = self.model.sdk_id or self.model.id
        prefix = f"{self.provider.sdk_id}:"
        return sdk_id[len(prefix) :] if sdk_id.startswith(prefix) else sdk_id

    @property
    def needs_key(self) -> bool:
        """Remote providers need a key; one on this machine (Ollama, LM Studio) may not."""
        host = urlsplit(self.provider.base_url or "").hostname or ""
        return host not in LOOPBACK_HOSTS and not host.startswith("127.")


@dataclass(frozen=True)
class Registry:
    """One consistent load: routes of enabled models of enabled providers, by model id."""

    routes: dict[str, Route] = field(default_factory=dict)
    data_version: int = -1


class RegistryView:
    """Loads the registry from ``db_path`` read-only and reloads it when it changes."""

    def __init__(
        self, db_path: Path, secrets: SecretBox | None, *, poll_interval: float = 0.25
    ) -> None:
        self.db_path = db_path
        self.secrets = secrets
        self.poll_interval = poll_interval
        self.registry = Registry()
        self._conn: aiosqlite.Connection | None = None
        self._watcher: asyncio.Task[None] | None = None

    async def open(self) -> None:
        if not self.db_path.exists():
            raise StorageError(f"database {self.db_path} does not exist (run `modeldeck serve`)")
        uri = self.db_path.resolve().as_uri() + "?mode=ro"
        self._conn = await aiosqlite.connect(uri, uri=True, isolation_level=None)
        self._conn.row_factory = sqlite3.Row
        await self._conn.execute("PRAGMA busy_timeout = 5000")
        await self.refresh()
        self._watcher = asyncio.create_task(self._watch(), name="registry watcher")

    async def close(self) -> None:
        if self._watcher is not None:
            self._watcher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._watcher
        if self._conn is not None:
            await self._conn.close()
            self._conn = None

    def route(self, model_id: str) -> Route | None:
        return self.registry.routes.get(model_id)

    async def _data_version(self) -> int:
        assert self._conn is not None
        async with self._conn.execute("PRAGMA data_version") as cursor:
            row = await cursor.fetchone()
        return int(row[0]) if row else 0

    async def refresh(self) -> bool:
        """Reload if another connection committed since the last load; True if it did."""
        version = await self._data_version()
        if version == self.registry.data_version:
            return False
        self.registry = await self._load(version)
        return True

    async def _load(self, version: int) -> Registry:
        assert self._conn is not None
        rows = await read_registry(self._conn)  # one commit's providers and models
        providers: dict[str, tuple[ProviderRecord, str | None, str | None]] = {}
        for record in rows.providers:
            if record.enabled:
                key = rows.encrypted_keys.get(record.id)
                providers[record.id] = (record, *self._decrypt(record, key))
        routes: dict[str, Route] = {}
        for model in rows.models:
            entry = providers.get(model.provider_id or "")
            if model.enabled and entry is not None:
                routes[model.id] = Route(model, entry[0], entry[1], entry[2])
        # Every committed write (events included) moves data_version: log the first load only.
        level = logging.INFO if self.registry.data_version < 0 else logging.DEBUG
        log.log(level, "registry loaded: %d routable models (version %d)", len(routes), version)
        return Registry(routes=routes, data_version=version)

    def _decrypt(
        self, provider: ProviderRecord, token: bytes | None
    ) -> tuple[str | None, str | None]:
        """``(api_key, None)``, or ``(None, why)`` when a stored key cannot be read."""
        if token is None:
            return None, None
        if self.secrets is None:
            return None, "no secret key is available to decrypt it"
        try:
            return self.secrets.decrypt(token), None
        except StorageError as exc:
            log.warning("provider %s: %s", provider.id, exc.message)
            return None, exc.message

    async def _watch(self) -> None:
        while True:
            await asyncio.sleep(self.poll_interval)
            try:
                await self.refresh()
            except (sqlite3.Error, StorageError):  # keep serving the last good load
                log.exception("could not reload the registry")
