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

A replay in the full format shows each event's ``items`` as they were at that event:
starting from a copy of the registry at the greeting's seq, ``replay_full`` walks the
missed events backwards, undoing each with the ``prior`` objects the log keeps beside
it. Full payloads are immutable history, so recent ones are kept (bounded by bytes)
and a crowd of clients reconnecting after a restart mostly reuses them.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterable, Sequence
from typing import Any, Protocol

import orjson

from events.names import Event

#: Bytes of recent full payloads kept for replays (each one lists every item).
FULL_CACHE_BYTES = 64 * 1024 * 1024

_REGISTRY_EVENTS = (Event.PROVIDERS_UPDATED, Event.MODELS_UPDATED, Event.PROXY_STATUS)


class Committed(Protocol):
    @property
    def seq(self) -> int: ...
    @property
    def event(self) -> str: ...

    def payload_json(self) -> bytes: ...


class Replayed(Committed, Protocol):
    """A logged event read back with what its objects were before it."""

    @property
    def prior(self) -> bytes | None: ...


class _Table:
    """Encoded records by id in registry order (creation order; updates keep place)."""

    def __init__(self, items: Iterable[dict[str, Any]] = ()) -> None:
        self.encoded: dict[str, bytes] = {}
        self.enabled: dict[str, bool] = {}
        self.created: dict[str, str] = {}
        self._list: bytes | None = None
        for item in items:
            self.upsert(item)

    def copy(self) -> _Table:
        twin = _Table()
        twin.encoded, twin.enabled = dict(self.encoded), dict(self.enabled)
        twin.created, twin._list = dict(self.created), self._list
        return twin

    def upsert(self, item: dict[str, Any]) -> None:
        self.encoded[item["id"]] = orjson.dumps(item)
        self.enabled[item["id"]] = bool(item.get("enabled", True))
        self.created[item["id"]] = str(item.get("createdAt", ""))
        self._list = None

    def remove(self, item_id: str) -> None:
        if self.encoded.pop(item_id, None) is not None:
            del self.enabled[item_id]
            del self.created[item_id]
            self._list = None

    def restore(self, prior: dict[str, Any]) -> None:
        """Undo a change: put back each object as it was (remove those it created),
        each restored one in registry order (creation time)."""
        reinserted = False
        for item_id, item in prior.items():
            if item is None:
                self.remove(item_id)
            else:
                reinserted = reinserted or item_id not in self.encoded
                self.upsert(item)
        if reinserted:
            order = sorted(self.encoded, key=self.created.__getitem__)  # stable: ties keep order
            self.encoded = {i: self.encoded[i] for i in order}

    def list_json(self) -> orjson.Fragment:
        if self._list is None:
            self._list = b"[" + b",".join(self.encoded.values()) + b"]"
        return orjson.Fragment(self._list)

    @property
    def total(self) -> int:
        return len(self.encoded)

    def enabled_count(self) -> int:
        return sum(self.enabled.values())


class _FullCache:
    """Recent full payloads by seq, oldest dropped first past ``FULL_CACHE_BYTES``."""

    def __init__(self) -> None:
        self._items: OrderedDict[int, bytes] = OrderedDict()
        self._bytes = 0

    def get(self, seq: int) -> bytes | None:
        return self._items.get(seq)

    def put(self, seq: int, encoded: bytes) -> None:
        if seq in self._items:
            return
        self._items[seq] = encoded
        self._bytes += len(encoded)
        while self._bytes > FULL_CACHE_BYTES and len(self._items) > 1:
            _, dropped = self._items.popitem(last=False)
            self._bytes -= len(dropped)


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
        self._full = _FullCache()

    def apply(self, event: Committed) -> dict[str, Any] | None:
        """Advance to ``event`` (ignored if not newer); returns its payload when parsed."""
        if event.seq <= self.seq:
            return None
        self.seq = event.seq
        if event.event not in _REGISTRY_EVENTS:
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
        """``event`` in the full format, right after ``apply(event)``: ``items`` are the
        registry as the event left it. Encoded once, however many clients it goes to."""
        cached = self._full.get(event.seq)
        if cached is not None:
            return cached
        encoded = _full(event, data, self.providers, self.models)
        if event.event in _REGISTRY_EVENTS:
            self._full.put(event.seq, encoded)
        return encoded

    def capture(self) -> RegistryMirror:
        """A copy of the registry as of now, for a replay that must not see later events."""
        twin = RegistryMirror((), (), self.credentials, self.seq)
        twin.providers, twin.models = self.providers.copy(), self.models.copy()
        twin._full = self._full  # shared: full payloads are history, valid in both
        return twin

    def replay_full(self, events: Sequence[Replayed]) -> list[bytes]:
        """Full payloads of ``events`` (oldest first, none after this mirror's seq),
        each listing the registry as it was at that event. Changes this mirror: call
        it on a ``capture()``."""
        out: list[bytes] = []
        for event in reversed(events):
            cached = self._full.get(event.seq)
            if cached is None:
                cached = _full(event, None, self.providers, self.models)
                if event.event in _REGISTRY_EVENTS:
                    self._full.put(event.seq, cached)
            out.append(cached)
            if event.prior is not None and event.event != Event.PROXY_STATUS:
                table = self.providers if event.event == Event.PROVIDERS_UPDATED else self.models
                table.restore(orjson.loads(event.prior))
        out.reverse()
        return out

    def greeting(self, status: dict[str, Any]) -> bytes:
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


def _full(
    event: Committed, data: dict[str, Any] | None, providers: _Table, models: _Table
) -> bytes:
    """The full form of a logged (delta) event, listing ``providers`` and ``models``."""
    if event.event not in _REGISTRY_EVENTS:
        return event.payload_json()
    if data is None:
        data = orjson.loads(event.payload_json())
    if event.event == Event.PROXY_STATUS:
        full = {
            **data,
            "providers": {**data["providers"], "items": providers.list_json()},
            "models": {**data["models"], "items": models.list_json()},
        }
    else:
        table = providers if event.event == Event.PROVIDERS_UPDATED else models
        full = {k: v for k, v in data.items() if k not in ("changed", "deleted")}
        full["items"] = table.list_json()
    return orjson.dumps(full)
