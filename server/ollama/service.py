"""What modeldeck does with the local Ollama besides pulls: status, list, details,
delete, VRAM estimates and the catalog; and the ``ollama:updated`` event.

Every call goes to Ollama live (no cache): the installed list is small and Ollama
answers from memory, and a cache would be wrong after an ``ollama rm`` at the shell.
Errors come up as ``OllamaError`` subclasses; ``server.errors`` maps them (Ollama down
-> 503 with the address tried, unknown model -> 404, bad name -> 422 naming ``model``).

A delete logs ``ollama:updated`` in a transaction like every registry write, so it gets
a ``seq``, is replayable, and is broadcast only after it committed.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

from pydantic.alias_generators import to_camel

from events.payloads import OllamaUpdated
from server.errors import ResourceNotFound, ValidationFailed
from server.ollama.catalog import catalog_view
from server.ollama.client import (
    OllamaClient,
    OllamaError,
    OllamaNotFound,
    OllamaUnavailable,
    normalize_model_name,
)
from server.ollama.vram import VramEstimate, estimate_from_catalog, estimate_from_show
from storage.database import Database, Transaction

HEALTH_TIMEOUT = 2.0  # /health must answer quickly even when Ollama hangs
_BIG_LIST = 32  # model_info arrays longer than this (tokenizer vocabularies) are dropped


def _utc(value: Any) -> str | None:
    """Ollama's RFC 3339 time (local offset, nanoseconds) as our ``…000Z`` UTC form."""
    if not isinstance(value, str):
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        return value
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _camel(data: dict[str, Any]) -> dict[str, Any]:
    return {to_camel(key): value for key, value in data.items()}


def split_name(full: str) -> tuple[str, str]:
    """``llama3.2:3b`` -> (``llama3.2``, ``3b``); a name without a tag is ``latest``."""
    base, sep, tag = full.rpartition(":")
    if not sep or "/" in tag:
        return full, "latest"
    return base, tag


def model_view(entry: dict[str, Any]) -> dict[str, Any]:
    """One ``/api/tags`` entry in the seed's shape, camelCase."""
    full = str(entry.get("model") or entry.get("name") or "")
    base, tag = split_name(full)
    return {
        "name": base,
        "model": full,
        "tag": tag,
        "size": int(entry.get("size") or 0),
        "digest": entry.get("digest"),
        "modifiedAt": _utc(entry.get("modified_at")),
        "details": _camel(entry.get("details") or {}),
    }


@dataclass(frozen=True)
class Listing:
    """The installed models as ``GET /api/ollama/models`` and ``ollama:updated`` show them."""

    models: list[dict[str, Any]]

    @property
    def total_size(self) -> int:
        return sum(model["size"] for model in self.models)

    def find(self, name: str) -> dict[str, Any] | None:
        key = name.lower()
        return next((m for m in self.models if m["model"].lower() == key), None)

    def to_json(self) -> dict[str, Any]:
        return {"models": self.models, "total": len(self.models), "totalSize": self.total_size}


class OllamaService:
    """Ollama reads and deletes for REST, sockets and the pull pool; safe to share."""

    def __init__(self, client: OllamaClient, db: Database) -> None:
        self.client = client
        self.db = db

    @property
    def url(self) -> str:
        return self.client.base_url

    async def status(self) -> dict[str, Any]:
        """Never raises: ``available: false`` with the reason when Ollama is down."""
        try:
            version = await self.client.version()
        except OllamaError as exc:
            return {"available": False, "version": None, "url": self.url, "error": exc.message}
        return {"available": True, "version": version, "url": self.url, "error": None}

    async def healthy(self) -> bool:
        """For ``/health``: a bounded version call."""
        try:
            async with asyncio.timeout(HEALTH_TIMEOUT):
                await self.client.version()
        except (OllamaError, TimeoutError):
            return False
        return True

    async def listing(self) -> Listing:
        return Listing([model_view(entry) for entry in await self.client.list_models()])

    async def details(self, name: str) -> dict[str, Any]:
        """``/api/show`` for one model (the seed's ModelDetails and more), camelCase."""
        model = normalize_model_name(name)
        show, listing = await asyncio.gather(self.client.show(model), self.listing())
        entry = listing.find(model) or {}
        details = show.get("details") or {}
        info: dict[str, Any] = show.get("model_info") or {}
        arch = info.get("general.architecture")
        return {
            "name": split_name(model)[0],
            "model": model,
            "size": entry.get("size"),
            "digest": entry.get("digest"),
            "modifiedAt": _utc(show.get("modified_at")) or entry.get("modifiedAt"),
            **_camel(details),
            "architecture": arch,
            "parameterCount": info.get("general.parameter_count"),
            "contextLength": info.get(f"{arch}.context_length") if arch else None,
            "capabilities": show.get("capabilities") or [],
            "modelfile": show.get("modelfile"),
            "parameters": show.get("parameters"),
            "template": show.get("template"),
            "system": show.get("system"),
            "license": show.get("license"),
            # GGUF keys as Ollama names them (data, not field names, so not camelCased)
            "modelInfo": {
                key: value
                for key, value in info.items()
                if not (isinstance(value, list) and len(value) > _BIG_LIST)
            },
        }

    async def delete(self, name: str) -> dict[str, Any]:
        """Delete in Ollama, then log ``ollama:updated`` (deleted) with the new list."""
        model = normalize_model_name(name)
        await self.client.delete(model)
        listing = await self.listing()
        async with self.db.transaction() as tx:
            await self.log_updated(tx, "deleted", model, listing)
        return {"model": model, "deleted": True, **listing.to_json()}

    async def log_updated(
        self, tx: Transaction, action: Literal["pulled", "deleted"], model: str, listing: Listing
    ) -> None:
        """Append ``ollama:updated`` to the outbox of ``tx`` (broadcast after commit)."""
        payload = OllamaUpdated(
            action=action,
            model=model,
            models=listing.models,
            total=len(listing.models),
            total_size=listing.total_size,
            timestamp=tx.now,
        )
        await tx.log_event(payload.event, payload.topic, payload.to_json())

    async def vram(self, name: str, context: int | None) -> VramEstimate:
        """From ``/api/show`` when installed; else the catalog's static figure.

        When Ollama is down a catalog model still gets its static figure (noted);
        anything else is a 503 then.
        """
        model = normalize_model_name(name)
        try:
            show, listing = await asyncio.gather(self.client.show(model), self.listing())
        except (OllamaNotFound, OllamaUnavailable) as exc:
            estimate = estimate_from_catalog(model, context)
            if estimate is None:
                if isinstance(exc, OllamaUnavailable):
                    raise
                raise ResourceNotFound(
                    f"Model '{model}' is neither installed nor in the catalog",
                    details={"field": "name"},
                ) from exc
            if isinstance(exc, OllamaUnavailable):
                estimate.notes.append(f"Ollama is unreachable ({exc.message})")
            return estimate
        entry = listing.find(model)
        try:
            return estimate_from_show(
                show, size_bytes=entry["size"] if entry else None, context=context, model=model
            )
        except ValueError as exc:
            raise ValidationFailed(f"name: {exc}", details={"field": "name"}) from exc

    async def catalog(self, category: str | None) -> list[dict[str, Any]]:
        """The static catalog; ``installed`` is null on every tag when Ollama is down."""
        try:
            installed: set[str] | None = {m["model"] for m in (await self.listing()).models}
        except OllamaError:
            installed = None
        try:
            view = catalog_view(category, installed or set())
        except ValueError as exc:
            raise ValidationFailed(f"category: {exc}", details={"field": "category"}) from exc
        if installed is None:
            for entry in view:
                entry["installed"] = None
                for tag in entry["tags"]:
                    tag["installed"] = None
        return view
