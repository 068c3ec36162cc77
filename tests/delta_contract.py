"""The delta client's side of the contract, shared by the Python and Node tests: keep
the greeting's lists, apply every later delta in seq order, compare with GET."""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable
from typing import Any

from tests.clients import Api


class DeltaView:
    """What a delta client keeps: the greeting's lists, advanced by each delta."""

    def __init__(self, greeting: dict[str, Any]) -> None:
        self.seq: int = greeting["seq"]
        self.providers = {p["id"]: p for p in greeting["providers"]["items"]}
        self.models = {m["id"]: m for m in greeting["models"]["items"]}

    def apply(self, event: str, data: dict[str, Any]) -> None:
        if data.get("seq") is None or data["seq"] <= self.seq:
            return
        assert data["seq"] == self.seq + 1, f"gap: {self.seq} -> {data['seq']}"
        self.seq = data["seq"]
        table = {"providers:updated": self.providers, "models:updated": self.models}.get(event)
        if table is None:
            return
        assert "items" not in data
        for item in data["changed"]:
            table[item["id"]] = item
        for item_id in data["deleted"]:
            table.pop(item_id, None)
        assert data["total"] == len(table)

    @classmethod
    def of(cls, events: list[tuple[str, Any]]) -> DeltaView:
        """From what one connection received: its greeting, then everything after it."""
        start = next(
            i for i, (name, d) in enumerate(events)
            if name == "proxy:status" and "items" in d["models"]
        )  # fmt: skip
        view = cls(events[start][1])
        for name, data in events[start + 1 :]:
            if isinstance(data, dict):
                view.apply(name, data)
        return view


async def get_state(api: Api) -> tuple[dict[str, Any], dict[str, Any]]:
    _, providers = await api.get("/api/providers")
    _, models = await api.get("/api/models")
    return {p["id"]: p for p in providers}, {m["id"]: m for m in models}


async def mixed_writes(
    api: Api, *, writers: int = 3, each: int = 15, during: Callable[[], Awaitable[None]]
) -> int:
    """Concurrent creates, set-defaults, updates, deletes, enable/disable and a cascading
    provider delete, with ``during`` running beside them; returns the last seq."""
    rng = random.Random(14)
    await api.post("/api/providers", {"name": "Acme", "sdkId": "acme"})
    await api.post("/api/providers", {"name": "Zeta", "sdkId": "zeta"})

    async def writer(w: int) -> None:
        for i in range(each):
            mid = f"w{w}-m{i}"
            choice = rng.random()
            provider = rng.choice(["acme", "zeta"])
            await api.post(
                "/api/models",
                {"id": mid, "name": f"M {w} {i}", "providerId": provider, "type": "chat"},
            )
            if choice < 0.3:
                await api.post(f"/api/models/{mid}/set-default")
            elif choice < 0.5:
                await api.patch(f"/api/models/{mid}", {"enabled": False})
            elif choice < 0.6:
                await api.delete(f"/api/models/{mid}")
            elif choice < 0.7:
                await api.post(f"/api/providers/{provider}/disable")
                await api.post(f"/api/providers/{provider}/enable")
            else:
                await api.post(f"/api/models/{mid}/start")
            if w == 0 and i == each // 2:
                await api.delete("/api/providers/zeta?cascade=true")
                await api.post("/api/providers", {"name": "Zeta", "sdkId": "zeta"})

    await asyncio.gather(*(writer(w) for w in range(writers)), during())
    status, _ = await api.post("/api/models", {"id": "last", "name": "Last"})
    assert status == 201
    _, events = await api.get("/api/events?since=0&limit=1000")
    return int(events[-1]["seq"])
