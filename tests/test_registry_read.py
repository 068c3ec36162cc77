"""What frontends read: /v1/models (seed 004) and /api/model-registry (seed 003)."""

from __future__ import annotations

from tests.conftest import Running


async def test_v1_models_chat_is_seed_004_exactly(server: Running) -> None:
    status, body = await server.api.get("/v1/models?type=chat")
    assert status == 200
    assert body == [
        {"id": "gemini-2.5-flash-preview-04-17", "name": "Gemini 2.5 Flash Preview 04-17",
         "description": "Latest preview model with enhanced capabilities",
         "contextLength": 1048576},
        {"id": "gemini-1.5-pro", "name": "Gemini 1.5 Pro",
         "description": "Advanced reasoning and long context", "contextLength": 2097152},
        {"id": "gemini-1.5-flash", "name": "Gemini 1.5 Flash",
         "description": "Fast and efficient for most tasks", "contextLength": 1048576},
    ]  # fmt: skip


async def test_v1_models_image_names_the_provider(server: Running) -> None:
    _, body = await server.api.get("/v1/models?type=image")
    assert body == [
        {"id": "sdxl", "name": "Stable Diffusion XL",
         "description": "High-quality image generation", "provider": "StabilityAI"},
        {"id": "sdxl-lightning", "name": "SDXL-Lightning",
         "description": "Fast SDXL variant", "provider": "StabilityAI"},
        {"id": "flux-schnell", "name": "Flux Schnell",
         "description": "Fast image generation", "provider": "Flux"},
        {"id": "flux-pro", "name": "Flux Pro",
         "description": "High-quality image generation", "provider": "Flux"},
    ]  # fmt: skip
    assert (await server.api.get("/v1/models?type=speech"))[1] == []
    status, error = await server.api.get("/v1/models?type=video")
    assert status == 422 and error["error"]["message"].startswith("type")


async def test_one_model_and_unknown(server: Running) -> None:
    status, body = await server.api.get("/v1/models/sdxl")
    assert status == 200 and body["provider"] == "StabilityAI"
    assert (await server.api.get("/v1/models/nope"))[0] == 404


async def test_writes_invalidate_the_cache(server: Running) -> None:
    assert len((await server.api.get("/v1/models?type=chat"))[1]) == 3
    await server.api.patch("/api/models/gemini-1.5-pro", {"enabled": False})
    chat = (await server.api.get("/v1/models?type=chat"))[1]
    assert [m["id"] for m in chat] == ["gemini-2.5-flash-preview-04-17", "gemini-1.5-flash"]
    assert (await server.api.get("/v1/models/gemini-1.5-pro"))[0] == 404
    await server.api.post("/api/providers/google/disable")
    assert (await server.api.get("/v1/models?type=chat"))[1] == []
    await server.api.post("/api/providers/google/enable")
    await server.api.post(
        "/api/models", {"name": "Local Chat", "contextLength": 4096, "description": "mine"}
    )
    chat = (await server.api.get("/v1/models?type=chat"))[1]
    assert chat[-1] == {
        "id": "local-chat", "name": "Local Chat", "description": "mine", "contextLength": 4096,
    }  # fmt: skip


async def test_model_registry_has_enabled_providers_and_defaults(server: Running) -> None:
    await server.api.post("/api/providers/flux/disable")
    await server.api.patch("/api/models/sdxl-lightning", {"enabled": False})
    status, registry = await server.api.get("/api/model-registry")
    assert status == 200
    assert [p["id"] for p in registry["providers"]] == ["google", "stabilityai"]
    stability = registry["providers"][1]
    assert [m["id"] for m in stability["models"]] == ["sdxl"]
    assert registry["defaultModelId"] == "gemini-1.5-flash"
    assert registry["defaults"] == {"chat": "gemini-1.5-flash", "image": "sdxl"}
    await server.api.post("/api/models/gemini-1.5-pro/set-default")
    assert (await server.api.get("/api/model-registry"))[1]["defaultModelId"] == "gemini-1.5-pro"
