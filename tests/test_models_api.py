"""REST /api/models: CRUD, filters, defaults and status changes."""

from __future__ import annotations

import asyncio

import pytest

from tests.conftest import Running


async def test_create_with_provider_and_filters(server: Running) -> None:
    api = server.api
    status, model = await api.post(
        "/api/models",
        {"name": "Gemini Nano", "type": "chat", "provider_id": "google",
         "sdkId": "google:nano", "contextLength": 8192},
    )  # fmt: skip
    assert status == 201
    assert model["id"] == "gemini-nano" and model["providerId"] == "google"
    assert model["status"] == "stopped" and model["isDefault"] is False

    _, chat = await api.get("/api/models?type=chat")
    assert {m["type"] for m in chat} == {"chat"} and len(chat) == 4
    _, google = await api.get("/api/models?providerId=google")
    assert len(google) == 4
    await api.patch("/api/models/flux-pro", {"enabled": False})
    _, disabled = await api.get("/api/models?enabled=false")
    assert [m["id"] for m in disabled] == ["flux-pro"]
    status, error = await api.get("/api/models?type=video")
    assert status == 422 and error["error"]["message"].startswith("type")


async def test_sdk_id_is_unique_per_provider(server: Running) -> None:
    body = {"name": "Dup", "providerId": "google", "sdkId": "google:gemini-1.5-pro"}
    status, error = await server.api.post("/api/models", body)
    assert status == 409 and error["error"]["details"]["field"] == "sdkId"
    status, _ = await server.api.post("/api/models", body | {"providerId": "flux"})
    assert status == 201  # another provider may use the same sdkId
    status, error = await server.api.patch("/api/models/dup", {"providerId": "google"})
    assert status == 409


async def test_unknown_provider_is_a_404_naming_it(server: Running) -> None:
    status, error = await server.api.post("/api/models", {"name": "x", "providerId": "nope"})
    assert status == 404 and error["error"]["details"]["field"] == "providerId"


async def test_one_default_per_type(server: Running) -> None:
    api = server.api
    _, chat = await api.get("/api/models?type=chat")
    assert [m["id"] for m in chat if m["isDefault"]] == ["gemini-1.5-flash"]
    status, model = await api.post("/api/models/gemini-1.5-pro/set-default")
    assert status == 200 and model["isDefault"] is True
    _, models = await api.get("/api/models")
    defaults = {m["id"] for m in models if m["isDefault"]}
    assert defaults == {"gemini-1.5-pro", "sdxl"}  # the image default is untouched
    await api.post("/api/models", {"name": "New Default", "type": "chat", "isDefault": True})
    _, chat = await api.get("/api/models?type=chat")
    assert [m["id"] for m in chat if m["isDefault"]] == ["new-default"]


async def test_concurrent_set_default_leaves_exactly_one(server: Running) -> None:
    ids = ["gemini-1.5-pro", "gemini-1.5-flash", "gemini-2.5-flash-preview-04-17"]
    results = await asyncio.gather(
        *(server.api.post(f"/api/models/{i}/set-default") for i in ids * 5)
    )
    assert all(status == 200 for status, _ in results)
    _, chat = await server.api.get("/api/models?type=chat")
    assert len([m for m in chat if m["isDefault"]]) == 1


async def test_start_and_stop(server: Running) -> None:
    status, model = await server.api.post("/api/models/sdxl/start")
    assert status == 200 and model["status"] == "running"
    status, error = await server.api.post("/api/models/sdxl/start")
    assert status == 409 and "running" in error["error"]["message"]
    status, model = await server.api.post("/api/models/sdxl/stop")
    assert status == 200 and model["status"] == "stopped"
    status, error = await server.api.post("/api/models/sdxl/stop")
    assert status == 409


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"name": "x", "type": "video"}, "type"),
        ({"name": "x", "ctxSize": 0}, "ctxSize"),
        ({"name": "x", "batch_size": -4}, "batchSize"),
        ({"name": "x", "threads": "many"}, "threads"),
        ({"name": "x", "modelUrl": "ftp//nope"}, "modelUrl"),
        ({"name": "x", "status": "flying"}, "status"),
        ({"name": "x", "contextLength": 1.5}, "contextLength"),
    ],
)
async def test_bad_model_fields(server: Running, body: dict, field: str) -> None:
    status, error = await server.api.post("/api/models", body)
    assert status == 422 and error["error"]["message"].startswith(field), error
    assert (await server.api.get("/api/models/x"))[0] == 404


async def test_delete(server: Running) -> None:
    status, body = await server.api.delete("/api/models/flux-pro")
    assert status == 200 and body == {"id": "flux-pro", "deleted": True}
    assert (await server.api.get("/api/models/flux-pro"))[0] == 404
    assert (await server.api.delete("/api/models/flux-pro"))[0] == 404
