"""The registry in memory, advanced by applying each committed delta in seq order.

A ``RegistryMirror`` is loaded once at start-up and then only ever changed by
``apply``: upsert ``changed`` by id, remove ``deleted`` — exactly the contract a delta
client relies on, so the server runs the same code path its clients do. It does not
care who committed an event, only that events arrive in ``seq`` order, so a process
that tails the log can keep one too.

It serves what needs the whole registry without reading it: the greeting (full lists
plus the ``seq`` they reflect) and the full-format payloads (``items`` = the lists after
that event). Each record is kept as its encoded JSON and a list is one ``b",".join``,
cached until the next change, so at 10,000 models a full payload costs one join and
one copy, once per event, never per client. Not thread-safe: one event loop.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Protocol

import orjson

from events.names import Event

#: Full payloads kept per registry state: enough for the events a crowd of
#: reconnecting clients replays, bounded because each holds every item.
FULL_CACHE = 32


class Committed(Protocol):
    @property
    def seq(self) -> int: ...
    @property
    def event(self) -> str: ...

    def payload_json(self) -> bytes: ...


class _Table:
    """Encoded records by id in registry order (creation order; updates keep place)."""

    def __init__(self, items: Iterable[dict[str, Any]]) -> None:
        self.encoded: dict[str, bytes] = {}
        self.enabled: dict[str, bool] = {}
        self._list: bytes | None = None
        for item in items:
            self.upsert(item)

    def upsert(self, item: dict[str, Any]) -> None:
        self.encoded[item["id"]] = orjson.dumps(item)
        self.enabled[item["id"]] = bool(item.get("enabled", True))
        self._list = None

    def remove(self, item_id: str) -> None:
        if self.encoded.pop(item_id, None) is not None:
            del self.enabled[item_id]
            self._list = None

    def list_json(self) -> orjson.Fragment:
        if self._list is None:
            self._list = b"[" + b",".join(self.encoded.values()) + b"]"
        return orjson.Fragment(self._list)

    @property
    def total(self) -> int:
        return len(self.encoded)

    def enabled_count(self) -> int:
        return sum(self.enabled.values())

    def items(self) -> list[dict[str, Any]]:
        return [orjson.loads(body) for body in self.encoded.values()]


class RegistryMirror:
    """Providers and models by id, the credentials summary, and the seq they reflect."""

    def __init__(
        self,
        providers: Iterable[dict[str, Any]],
        models: Iterable[dict[str, Any]],
        credentials: dict[str, Any],
        seq: int,
    ) -> None:
        self.providers = _Table(providers)
        self.models = _Table(models)
        self.credentials = credentials
        self.seq = seq
        self._full: dict[int, bytes] = {}
        self._full_at = seq

    def apply(self, event: Committed) -> dict[str, Any] | None:
        """Advance to ``event`` (ignored if not newer); returns its payload when parsed."""
        if event.seq <= self.seq:
            return None
        self.seq = event.seq
        if event.event not in (
            Event.PROVIDERS_UPDATED,
            Event.MODELS_UPDATED,
            Event.PROXY_STATUS,
        ):
            return None
        data: dict[str, Any] = orjson.loads(event.payload_json())
        if event.event == Event.PROXY_STATUS:
            self.credentials = data.get("credentials", self.credentials)
            return data
        table = self.providers if event.event == Event.PROVIDERS_UPDATED else self.models
        for item in data.get("changed", ()):
            table.upsert(item)
        for item_id in data.get("deleted", ()):
            table.remove(item_id)
        return data

    # -- full format -------------------------------------------------------------

    def provider_block(self) -> dict[str, Any]:
        return {
            "items": self.providers.list_json(),
            "total": self.providers.total,
            "enabled": self.providers.enabled_count(),
        }

    def model_block(self) -> dict[str, Any]:
        return {"items": self.models.list_json(), "total": self.models.total}

    def full_payload(self, event: Committed, data: dict[str, Any] | None = None) -> bytes:
        """``event`` in the full format, ``items`` as the registry is now.

        Called right after ``apply(event)`` that is the registry as the event left it;
        for a replayed event it is the current registry. Encoded once per event while
        the registry does not change, however many clients it goes to.
        """
        if self._full_at != self.seq:
            self._full.clear()
            self._full_at = self.seq
        cached = self._full.get(event.seq)
        if cached is not None:
            return cached
        if data is None:
            data = orjson.loads(event.payload_json())
        if event.event == Event.PROXY_STATUS:
            full = {
                **data,
                "providers": {**data["providers"], "items": self.providers.list_json()},
                "models": {**data["models"], "items": self.models.list_json()},
            }
        elif event.event in (Event.PROVIDERS_UPDATED, Event.MODELS_UPDATED):
            table = self.providers if event.event == Event.PROVIDERS_UPDATED else self.models
            full = {k: v for k, v in data.items() if k not in ("changed", "deleted")}
            full["items"] = table.list_json()
        else:
            return event.payload_json()
        encoded = orjson.dumps(full)
        if len(self._full) >= FULL_CACHE:
            del self._full[next(iter(self._full))]
        self._full[event.seq] = encoded
        return encoded

    def snapshot(self, status: dict[str, Any]) -> bytes:
        """The greeting ``proxy:status``: ``status`` (process blocks, message, timestamp)
        with the full lists, the counts and the credentials summary, and ``seq``."""
        return orjson.dumps(
            {
                **status,
                "providers": self.provider_block(),
                "models": self.model_block(),
                "credentials": self.credentials,
                "seq": self.seq,
            }
        )
