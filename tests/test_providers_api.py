"""REST /api/providers: what an admin tool does, and every way it can get it wrong."""

from __future__ import annotations

import io
import json

import pytest

from tests.conftest import Running

OPENAI = {"name": "OpenAI", "sdkId": "openai", "baseUrl": "https://api.openai.com/v1"}


async def test_create_read_update_delete(server: Running) -> None:
    api = server.api
    status, created = await api.post("/api/providers", OPENAI | {"apiKey": "sk-test-12345678"})
    assert status == 201
    assert created["id"] == "openai"
    assert created["hasApiKey"] is True and "apiKey" not in created
    assert created["createdAt"].endswith("Z")

    status, listed = await api.get("/api/providers")
    assert status == 200 and "openai" in [p["id"] for p in listed]
    assert (await api.get("/api/providers/openai"))[1]["baseUrl"] == OPENAI["baseUrl"]

    status, updated = await api.patch("/api/providers/openai", {"image_url": "/img/o.png"})
    assert status == 200 and updated["imageUrl"] == "/img/o.png"
    assert updated["baseUrl"] == OPENAI["baseUrl"]  # untouched fields stay
    status, updated = await api.put("/api/providers/openai", {"apiKey": None})
    assert status == 200 and updated["hasApiKey"] is False and updated["apiKeyHint"] is None

    assert (await api.post("/api/providers/openai/disable"))[1]["enabled"] is False
    assert (await api.post("/api/providers/openai/enable"))[1]["enabled"] is True
    assert (await api.post("/api/providers/openai/reload"))[0] == 200

    status, deleted = await api.delete("/api/providers/openai")
    assert status == 200 and deleted == {"id": "openai", "deleted": True, "deletedModels": []}
    assert (await api.get("/api/providers/openai"))[0] == 404


async def test_id_is_derived_from_the_name_and_kept_unique(server: Running) -> None:
    _, first = await server.api.post("/api/providers", {"name": "My Local LLM", "sdkId": "local"})
    assert first["id"] == "my-local-llm"
    await server.api.patch("/api/providers/my-local-llm", {"name": "Renamed"})
    _, second = await server.api.post("/api/providers", {"name": "My Local LLM", "sdkId": "l2"})
    assert second["id"] == "my-local-llm-2"


@pytest.mark.parametrize(
    ("body", "status", "field"),
    [
        ({"sdkId": "x"}, 422, "name"),
        ({"name": "X"}, 422, "sdkId"),
        ({"name": "X", "sdkId": 12}, 422, "sdkId"),
        ({"name": "", "sdkId": "x"}, 422, "name"),
        ({"name": "X", "sdkId": "x", "baseUrl": "not a url"}, 422, "baseUrl"),
        ({"name": "X", "sdkId": "x", "enabled": "maybe"}, 422, "enabled"),
        ({"name": "X", "sdkId": "x", "colour": "red"}, 422, "colour"),
        ({"name": "X", "sdkId": "x", "id": "has space"}, 422, "id"),
        ({"name": "Google", "sdkId": "x"}, 409, "name"),
        ({"name": "X", "sdkId": "google"}, 409, "sdkId"),
        ({"name": "X", "sdkId": "x", "id": "google"}, 409, "id"),
    ],
)
async def test_bad_provider_is_rejected_naming_the_field(
    server: Running, body: dict, status: int, field: str
) -> None:
    got, error = await server.api.post("/api/providers", body)
    assert got == status, error
    assert error["error"]["message"].startswith(field) or f"{field} '" in error["error"]["message"]
    assert (await server.api.get("/api/providers"))[1].__len__() == 3  # nothing written


async def test_malformed_bodies(server: Running) -> None:
    api = server.api
    status, error = await api.post(
        "/api/providers", data=b"{not json", headers={"Content-Type": "application/json"}
    )
    assert status == 400 and "malformed JSON" in error["error"]["message"]
    status, error = await api.post("/api/providers", data=b"name=x")
    assert status == 415 and error["error"]["code"] == "unsupported_media_type"
    status, error = await api.post("/api/providers", [1, 2])
    assert status == 400 and "JSON object" in error["error"]["message"]
    huge = json.dumps({"name": "x" * 2_000_000, "sdkId": "x"}).encode()
    status, error = await api.post(
        "/api/providers", data=io.BytesIO(huge), headers={"Content-Type": "application/json"}
    )
    assert status == 413 and error["error"]["code"] == "payload_too_large"
    status, error = await api.patch("/api/providers/google", {"name": None})
    assert status == 422 and error["error"]["message"].startswith("name")


async def test_unknown_ids_and_routes(server: Running) -> None:
    for method, path in [
        ("GET", "/api/providers/nope"),
        ("PATCH", "/api/providers/nope"),
        ("DELETE", "/api/providers/nope"),
        ("POST", "/api/providers/nope/enable"),
        ("GET", "/api/nothing-here"),
    ]:
        status, error = await server.api.call(method, path, {} if method == "PATCH" else None)
        assert status == 404, (method, path)
        assert error["error"]["code"] == "not_found"
    status, error = await server.api.call("PATCH", "/api/providers")
    assert status == 405 and error["error"]["code"] == "method_not_allowed"


async def test_delete_with_models_needs_cascade(server: Running) -> None:
    status, error = await server.api.delete("/api/providers/google")
    assert status == 409 and "cascade" in error["error"]["message"]
    assert (await server.api.get("/api/models/gemini-1.5-pro"))[0] == 200
    status, error = await server.api.delete("/api/providers/google?cascade=maybe")
    assert status == 422 and error["error"]["message"].startswith("cascade")
    status, body = await server.api.delete("/api/providers/google?cascade=true")
    assert status == 200
    assert sorted(body["deletedModels"]) == [
        "gemini-1.5-flash", "gemini-1.5-pro", "gemini-2.5-flash-preview-04-17",
    ]  # fmt: skip
    assert (await server.api.get("/api/models/gemini-1.5-pro"))[0] == 404
