"""The read side frontends hit most: ``/v1/models`` and ``/api/model-registry``.

Responses are built once from the database and kept as encoded bytes until a write
commits (``invalidate`` runs in the commit hook). A generation counter makes a rebuild
that raced with a commit throw its result away instead of caching stale data.
"""

from __future__ import annotations

from typing import Any

import orjson

from storage import models, providers
from storage.database import Database
from storage.records import ModelRecord, ProviderRecord


def v1_entry(model: ModelRecord, provider: ProviderRecord | None) -> dict[str, Any]:
    """Seed 004's exact shape: image models name their provider, others their context."""
    entry: dict[str, Any] = {"id": model.id, "name": model.name, "description": model.description}
    if model.type == "image":
        entry["provider"] = provider.name if provider else None
    else:
        entry["contextLength"] = model.context_length
    return entry


class RegistryCache:
    """Encoded read models of the registry. One event loop; not thread-safe."""

    def __init__(self, db: Database) -> None:
        self._db = db
        self._generation = 0
        self._cache: dict[str, bytes] = {}
        self._entries: dict[str, bytes] | None = None

    def invalidate(self) -> None:
        self._generation += 1
        self._cache.clear()
        self._entries = None

    async def _visible(self) -> tuple[list[tuple[ModelRecord, ProviderRecord | None]], int]:
        generation = self._generation
        by_id = {p.id: p for p in await providers.list_all(self._db)}
        visible = []
        for model in await models.list_all(self._db, enabled=True):
            provider = by_id.get(model.provider_id) if model.provider_id else None
            if model.provider_id is None or (provider is not None and provider.enabled):
                visible.append((model, provider))
        return visible, generation

    async def v1_models(self, model_type: str | None) -> bytes:
        """``GET /v1/models[?type=]``: enabled models of enabled providers."""
        key = f"v1:{model_type or '*'}"
        cached = self._cache.get(key)
        if cached is not None:
            return cached
        visible, generation = await self._visible()
        body = orjson.dumps(
            [v1_entry(m, p) for m, p in visible if model_type is None or m.type == model_type]
        )
        if generation == self._generation:
            self._cache[key] = body
        return body

    async def v1_model(self, model_id: str) -> bytes | None:
        entries = self._entries
        if entries is None:
            visible, generation = await self._visible()
            entries = {m.id: orjson.dumps(v1_entry(m, p)) for m, p in visible}
            if generation == self._generation:
                self._entries = entries
        return entries.get(model_id)

    async def model_registry(self) -> bytes:
        """Seed 003's shape: enabled providers with their enabled models, and defaults."""
        cached = self._cache.get("registry")
        if cached is not None:
            return cached
        generation = self._generation
        enabled_models = await models.list_all(self._db, enabled=True)
        result = []
        for provider in await providers.list_all(self._db):
            if not provider.enabled:
                continue
            own = [m.to_json() for m in enabled_models if m.provider_id == provider.id]
            result.append({**provider.to_json(), "models": own})
        defaults = {m.type: m.id for m in enabled_models if m.is_default}
        body = orjson.dumps(
            {"providers": result, "defaultModelId": defaults.get("chat"), "defaults": defaults}
        )
        if generation == self._generation:
            self._cache["registry"] = body
        return body
