"""The Ollama REST routes against the stand-in: status, models, delete, VRAM, catalog."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable

import pytest

from server.ollama.vram import FIXED_OVERHEAD_BYTES, GIB
from tests.clients import EventRecorder
from tests.conftest import Running
from tests.ollama_standin import OllamaStandin, default_catalog

Connect = Callable[..., Awaitable[EventRecorder]]
LLAMA3_SIZE = 4_661_224_676


@pytest.fixture
async def standin() -> AsyncIterator[OllamaStandin]:
    catalog = default_catalog()
    catalog["llama3.2:3b"] = catalog["tinyllama:latest"]  # a catalog model, installed
    async with OllamaStandin(
        catalog=catalog, installed=["llama3:8b", "tinyllama", "llama3.2:3b"]
    ) as server:
        yield server


@pytest.fixture
async def modeldeck(start_server, standin: OllamaStandin) -> Running:
    return await start_server(ollama_url=standin.url)


async def test_status_says_available_with_version_and_url(
    modeldeck: Running, standin: OllamaStandin
) -> None:
    status, body = await modeldeck.api.get("/api/ollama/status")

    assert status == 200
    assert body["available"] is True and body["version"] == "0.12.0"
    assert body["url"] == standin.url and body["error"] is None
    assert (await modeldeck.api.get("/health"))[1]["ollama"] == "up"


async def test_installed_models_with_disk_usage(modeldeck: Running) -> None:
    status, body = await modeldeck.api.get("/api/ollama/models")

    assert status == 200
    assert body["total"] == 3
    assert body["totalSize"] == sum(m["size"] for m in body["models"])
    llama3 = next(m for m in body["models"] if m["model"] == "llama3:8b")
    assert llama3["name"] == "llama3" and llama3["tag"] == "8b"
    assert llama3["size"] == LLAMA3_SIZE and len(llama3["digest"]) == 64
    assert llama3["modifiedAt"].endswith("Z")
    assert llama3["details"]["parameterSize"] == "8.0B"
    assert llama3["details"]["quantizationLevel"] == "Q4_0"


async def test_model_details(modeldeck: Running) -> None:
    status, body = await modeldeck.api.get("/api/ollama/models/llama3:8b")

    assert status == 200
    assert body["model"] == "llama3:8b" and body["name"] == "llama3"
    assert body["size"] == LLAMA3_SIZE
    assert body["family"] == "llama" and body["quantizationLevel"] == "Q4_0"
    assert body["architecture"] == "llama" and body["contextLength"] == 8192
    assert body["parameterCount"] == 8_030_261_248
    assert body["modelInfo"]["llama.attention.head_count_kv"] == 8
    assert "LLAMA 3" in body["license"] and body["template"]


async def test_unknown_models_are_404_even_with_slashes_in_the_name(modeldeck: Running) -> None:
    for path in ("/api/ollama/models/nope:1b", "/api/ollama/models/hf.co/me/repo:Q4_K_M"):
        status, body = await modeldeck.api.get(path)
        assert status == 404, path
        assert body["error"]["code"] == "not_found"
        message = body["error"]["message"]
        assert message.startswith("Model '") and message.endswith("not found")
    status, body = await modeldeck.api.delete("/api/ollama/models/nope")
    assert status == 404 and body["error"]["message"] == "Model 'nope:latest' not found"


async def test_delete_broadcasts_ollama_updated_with_seq(
    modeldeck: Running, standin: OllamaStandin, connect: Connect
) -> None:
    client = await connect(modeldeck.url)
    await client.wait_for("proxy:status")

    status, body = await modeldeck.api.delete("/api/ollama/models/llama3:8b")

    assert status == 200 and body["deleted"] is True and body["model"] == "llama3:8b"
    assert body["total"] == 2 and "llama3:8b" not in [m["model"] for m in body["models"]]
    event = await client.next("ollama:updated")
    assert event["action"] == "deleted" and event["model"] == "llama3:8b"
    assert event["models"] == body["models"] and event["totalSize"] == body["totalSize"]
    assert event["seq"] == 1 and event["timestamp"].endswith("Z")
    assert "llama3:8b" not in standin.installed_names
    _, logged = await modeldeck.api.get("/api/events?since=0")
    assert "ollama:updated" in str(logged)  # in the event log, so it replays


async def test_a_client_unsubscribed_from_ollama_does_not_get_it(
    modeldeck: Running, connect: Connect
) -> None:
    quiet, listening = await connect(modeldeck.url), await connect(modeldeck.url)
    await quiet.call("unsubscribe", {"topics": ["ollama"]})

    await modeldeck.api.delete("/api/ollama/models/tinyllama")

    await listening.next("ollama:updated")
    await quiet.call("subscribe", {"topics": ["ollama"]})  # a round trip: all flushed
    assert quiet.of("ollama:updated") == []


async def test_deleting_a_model_being_pulled_is_a_conflict(
    modeldeck: Running, standin: OllamaStandin
) -> None:
    standin.bytes_per_second = 1_000_000
    _, job = await modeldeck.api.post("/api/ollama/pulls", {"model": "gemma2:2b"})

    status, body = await modeldeck.api.delete("/api/ollama/models/gemma2:2b")

    assert status == 409 and body["error"]["details"]["jobId"] == job["id"]


# --- VRAM ----------------------------------------------------------------------------


async def test_vram_of_an_installed_model_matches_a_hand_computation(modeldeck: Running) -> None:
    status, body = await modeldeck.api.get("/api/ollama/models/tinyllama/vram?context=1024")

    assert status == 200 and body["source"] == "show" and body["model"] == "tinyllama:latest"
    # tinyllama: 1,100,048,384 params at Q4_0 (4.5 bits), 22 layers, 32 heads, 4 KV heads,
    # embedding 2048 (head_dim 2048 / 32 = 64), vocab 32,000, context 2048.
    weights = 1_100_048_384 * 45 // 80
    kv_2k = 2048 * 22 * (64 + 64) * 4 * 2
    graph_2k = max(4 * 512 * (1 + 4 * 2048 + 2048 * 33), 4 * 512 * (2048 + 32_000))
    at_model = body["atModelContext"]
    assert at_model["context"] == 2048
    assert at_model["weights"]["bytes"] == weights == 618_777_216
    assert at_model["kvCache"]["bytes"] == kv_2k == 46_137_344
    assert at_model["computeGraph"]["bytes"] == graph_2k
    assert at_model["overhead"]["bytes"] == FIXED_OVERHEAD_BYTES
    assert at_model["total"]["bytes"] == weights + kv_2k + graph_2k + FIXED_OVERHEAD_BYTES
    at_1k = body["atRequestedContext"]
    assert at_1k["context"] == 1024 and at_1k["kvCache"]["bytes"] == kv_2k // 2
    assert body["total"] == at_1k["total"]
    assert body["gpuClass"] == "4GB+ VRAM (GTX 1650, etc.)"


async def test_llama3_8b_holds_one_gib_of_kv_cache_at_8k(modeldeck: Running) -> None:
    _, body = await modeldeck.api.get("/api/ollama/models/llama3:8b/vram")

    assert body["atModelContext"]["kvCache"] == {"bytes": GIB, "gib": 1.0}
    assert body["atRequestedContext"] is None
    assert (body["headDimK"], body["headCountKv"], body["blockCount"]) == (128, 8, 32)


async def test_vram_of_a_catalog_model_not_installed_uses_the_catalog(modeldeck: Running) -> None:
    status, body = await modeldeck.api.get("/api/ollama/models/llama3.1:70b/vram")
    assert status == 200 and body["source"] == "catalog"
    assert body["estimatedVramGb"] == 40.0 and body["gpuClass"] == "48GB+ VRAM (A6000, multi-GPU)"

    status, body = await modeldeck.api.get("/api/ollama/models/nothing-like-it:7b/vram")
    assert status == 404 and "neither installed nor in the catalog" in body["error"]["message"]


async def test_vram_context_must_be_a_positive_number(modeldeck: Running) -> None:
    for bad in ("0", "-5", "lots"):
        status, body = await modeldeck.api.get(f"/api/ollama/models/llama3:8b/vram?context={bad}")
        assert status == 422, bad
        assert body["error"]["message"].startswith("context:")


# --- catalog -------------------------------------------------------------------------


async def test_catalog_filters_by_category_and_marks_installed_tags(modeldeck: Running) -> None:
    status, chat = await modeldeck.api.get("/api/ollama/catalog?category=chat")

    assert status == 200 and chat and all(m["category"] == "chat" for m in chat)
    llama32 = next(m for m in chat if m["name"] == "llama3.2")
    tags = {t["tag"]: t["installed"] for t in llama32["tags"]}
    assert tags == {"1b": False, "3b": True, "latest": False}
    assert llama32["installed"] is True
    _, everything = await modeldeck.api.get("/api/ollama/catalog")
    categories = {m["category"] for m in everything}
    assert categories == {"chat", "code", "vision", "embedding"}


async def test_unknown_catalog_category_is_422(modeldeck: Running) -> None:
    status, body = await modeldeck.api.get("/api/ollama/catalog?category=music")
    assert status == 422 and body["error"]["message"].startswith("category: unknown category")


# --- Ollama down ---------------------------------------------------------------------


async def test_server_starts_and_answers_503_while_ollama_is_down(
    start_server, standin: OllamaStandin
) -> None:
    await standin.stop()
    server = await start_server(ollama_url=standin.url)

    status, body = await server.api.get("/api/ollama/status")
    assert status == 200 and body["available"] is False and body["version"] is None
    assert body["error"].startswith(f"cannot reach Ollama at {standin.url}")
    assert (await server.api.get("/health"))[1]["ollama"] == "down"
    for path in ("/api/ollama/models", "/api/ollama/models/llama3:8b"):
        status, body = await server.api.get(path)
        assert status == 503, path
        assert body["error"]["code"] == "unavailable"
        assert body["error"]["message"].startswith("Ollama is unavailable: cannot reach Ollama")
    status, _ = await server.api.delete("/api/ollama/models/llama3:8b")
    assert status == 503

    # What needs no live Ollama still answers, and says what it could not know.
    status, catalog = await server.api.get("/api/ollama/catalog?category=embedding")
    assert status == 200 and catalog[0]["tags"][0]["installed"] is None
    status, vram = await server.api.get("/api/ollama/models/llama3.1:8b/vram")
    assert status == 200 and vram["source"] == "catalog"
    assert any("unreachable" in note for note in vram["notes"])
    assert (await server.api.get("/api/ollama/models/llama3:8b/vram"))[0] == 503

    await standin.start()  # back, without restarting modeldeck
    assert (await server.api.get("/api/ollama/status"))[1]["available"] is True
    assert (await server.api.get("/api/ollama/models"))[0] == 200


async def test_openapi_lists_the_ollama_routes(modeldeck: Running) -> None:
    _, document = await modeldeck.api.get("/openapi.json")

    paths = document["paths"]
    for path in (
        "/api/ollama/status",
        "/api/ollama/models",
        "/api/ollama/models/{name}",
        "/api/ollama/models/{name}/vram",
        "/api/ollama/catalog",
        "/api/ollama/pulls",
        "/api/ollama/pulls/{id}",
    ):
        assert path in paths, path
    assert set(paths["/api/ollama/pulls/{id}"]) == {"get", "delete"}
    assert "PullCreate" in document["components"]["schemas"]
