"""Per-model config sections, runtime fields and status changes of models, over REST."""

from __future__ import annotations

import sqlite3
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from tests.clients import EventRecorder
from tests.conftest import Running

Connect = Callable[..., Awaitable[EventRecorder]]

SECTIONS = ("sampling", "memory", "gpu", "advanced", "lora", "multimodal")
SAMPLES: dict[str, dict[str, Any]] = {
    "sampling": {"temperature": 2, "top_p": 0, "top_k": 0, "repeatPenalty": 1.1, "dry": 0.8},
    "memory": {"ctxSize": 32768, "batch_size": 1024, "ubatchSize": 512, "mmap": False},
    "gpu": {"nGpuLayers": -1, "main_gpu": 1, "tensor_split": [3, 1], "flashAttn": True},
    "advanced": {"threads": 12, "ropeFreqScale": 0.5, "extra_args": ["--no-warmup"]},
    "lora": {"adapters": [], "scale": 0, "merge": "linear"},
    "multimodal": {"mmprojPath": "/m/clip.gguf", "image_max_tokens": 1, "vision": True},
}
STORED: dict[str, dict[str, Any]] = {
    "sampling": {"temperature": 2, "topP": 0, "topK": 0, "repeatPenalty": 1.1, "dry": 0.8},
    "memory": {"ctxSize": 32768, "batchSize": 1024, "ubatchSize": 512, "mmap": False},
    "gpu": {"nGpuLayers": -1, "mainGpu": 1, "tensorSplit": [3, 1], "flashAttn": True},
    "advanced": {"threads": 12, "ropeFreqScale": 0.5, "extra_args": ["--no-warmup"]},
    "lora": {"adapters": [], "scale": 0, "merge": "linear"},
    "multimodal": {"mmprojPath": "/m/clip.gguf", "imageMaxTokens": 1, "vision": True},
}


def config_rows(server: Running, model_id: str) -> int:
    """Rows left in the SQLite file itself, not what the API chooses to show."""
    with sqlite3.connect(server.settings.db) as conn:
        (count,) = conn.execute(
            "SELECT COUNT(*) FROM model_configs WHERE model_id = ?", (model_id,)
        ).fetchone()
    return int(count)


async def test_every_section_round_trips(server: Running) -> None:
    for section in SECTIONS:
        path = f"/api/models/gemini-1.5-flash/config/{section}"
        assert await server.api.get(path) == (
            200, {"id": "gemini-1.5-flash", "type": section, "config": {}},
        )  # fmt: skip
        expected = {"id": "gemini-1.5-flash", "type": section, "config": STORED[section]}
        assert await server.api.put(path, SAMPLES[section]) == (200, expected)
        assert await server.api.get(path) == (200, expected)
    # Sections are independent: each still holds its own.
    for section in SECTIONS:
        _, body = await server.api.get(f"/api/models/gemini-1.5-flash/config/{section}")
        assert body["config"] == STORED[section]


async def test_put_replaces_the_whole_section(server: Running) -> None:
    path = "/api/models/sdxl/config/sampling"
    await server.api.put(path, {"temperature": 0.5, "seed": 42})
    assert (await server.api.put(path, {"topK": 10}))[1]["config"] == {"topK": 10}
    assert (await server.api.get(path))[1]["config"] == {"topK": 10}


@pytest.mark.parametrize(
    ("section", "config", "field"),
    [
        ("sampling", {"temperature": 2.5}, "temperature"),
        ("sampling", {"temperature": -0.1}, "temperature"),
        ("sampling", {"top_p": 1.01}, "topP"),
        ("sampling", {"topK": -1}, "topK"),
        ("sampling", {"repeat_penalty": 0}, "repeatPenalty"),
        ("sampling", {"temperature": "warm"}, "temperature"),
        ("memory", {"ctx_size": 0}, "ctxSize"),
        ("memory", {"batchSize": -512}, "batchSize"),
        ("gpu", {"n_gpu_layers": -2}, "nGpuLayers"),
        ("gpu", {"mainGpu": -1}, "mainGpu"),
        ("gpu", {"tensorSplit": [0.5, -0.5]}, "tensorSplit.1"),
        ("advanced", {"threads": 0}, "threads"),
        ("multimodal", {"imageMaxTokens": 0}, "imageMaxTokens"),
    ],
)
async def test_out_of_range_values_are_422_naming_the_field(
    server: Running, section: str, config: dict[str, Any], field: str
) -> None:
    path = f"/api/models/sdxl/config/{section}"
    await server.api.put(path, SAMPLES[section])
    status, body = await server.api.put(path, config)
    assert status == 422, body
    assert body["error"]["code"] == "validation_error"
    assert body["error"]["message"].startswith(f"{field}: ")
    assert (await server.api.get(path))[1]["config"] == STORED[section]  # nothing written


async def test_a_config_must_be_a_json_object_of_bounded_size(server: Running) -> None:
    path = "/api/models/sdxl/config/lora"
    json = {"Content-Type": "application/json"}
    for not_an_object in (b"[1, 2]", b'"hot"', b"3", b"null"):
        status, body = await server.api.put(path, data=not_an_object, headers=json)
        assert status == 400, (not_an_object, body)
        assert body["error"]["message"] == "config: must be a JSON object"
    status, body = await server.api.put(path, {"notes": "x" * 70_000})
    assert status == 413 and body["error"]["code"] == "payload_too_large"
    assert (await server.api.get(path))[1]["config"] == {}


async def test_unknown_model_or_section_is_404(server: Running) -> None:
    status, body = await server.api.get("/api/models/missing/config/sampling")
    assert status == 404 and "missing" in body["error"]["message"]
    status, body = await server.api.put("/api/models/missing/config/sampling", {"seed": 1})
    assert status == 404
    for method in (server.api.get, server.api.put):
        status, body = await method("/api/models/sdxl/config/colour")
        assert status == 404 and body["error"]["message"].startswith("section: ")


async def test_deleting_a_model_deletes_its_configs(server: Running) -> None:
    model = {"id": "local-llama", "name": "Local Llama", "ctxSize": 4096}
    assert (await server.api.post("/api/models", model))[0] == 201
    for section in SECTIONS:
        await server.api.put(f"/api/models/local-llama/config/{section}", SAMPLES[section])
    assert config_rows(server, "local-llama") == len(SECTIONS)

    assert await server.api.delete("/api/models/local-llama") == (
        200, {"id": "local-llama", "deleted": True},
    )  # fmt: skip
    assert config_rows(server, "local-llama") == 0
    assert (await server.api.post("/api/models", model))[0] == 201
    for section in SECTIONS:
        _, body = await server.api.get(f"/api/models/local-llama/config/{section}")
        assert body["config"] == {}


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"ctxSize": 0}, "ctxSize"),
        ({"ctxSize": -4096}, "ctxSize"),
        ({"ctx_size": 1.5}, "ctxSize"),
        ({"ctxSize": "lots"}, "ctxSize"),
        ({"batchSize": 0}, "batchSize"),
        ({"threads": 0}, "threads"),
        ({"threads": 4096}, "threads"),
        ({"modelUrl": "not a url"}, "modelUrl"),
        ({"model_url": "ftp://models.test/llama.gguf"}, "modelUrl"),
        ({"modelPath": 12}, "modelPath"),
    ],
)
async def test_runtime_fields_are_validated(
    server: Running, fields: dict[str, Any], field: str
) -> None:
    status, body = await server.api.post("/api/models", {"name": "Local", **fields})
    assert status == 422, body
    assert body["error"]["message"].startswith(f"{field}: ")
    status, body = await server.api.patch("/api/models/sdxl", fields)
    assert status == 422, body
    assert body["error"]["message"].startswith(f"{field}: ")
    assert (await server.api.get("/api/models/local"))[0] == 404


async def test_runtime_fields_are_stored_as_given(server: Running) -> None:
    fields = {
        "ctx_size": 8192,
        "batchSize": 512,
        "threads": 16,
        "modelPath": "/models/llama.gguf",
        "modelUrl": "https://models.test/llama.gguf",
    }
    status, body = await server.api.post("/api/models", {"name": "Local", **fields})
    assert status == 201
    assert (body["ctxSize"], body["batchSize"], body["threads"]) == (8192, 512, 16)
    assert (body["modelPath"], body["modelUrl"]) == (fields["modelPath"], fields["modelUrl"])
    status, body = await server.api.patch("/api/models/local", {"ctxSize": None, "threads": 2})
    assert status == 200 and body["ctxSize"] is None and body["threads"] == 2


async def test_status_transitions(server: Running, connect: Connect) -> None:
    client = await connect(server.url)
    await server.api.post("/api/models", {"id": "local", "name": "Local"})
    await client.next("models:updated")
    for status, action in [
        ("starting", "updated"),
        ("running", "started"),
        ("stopping", "updated"),
        ("stopped", "stopped"),
    ]:
        code, body = await server.api.patch("/api/models/local", {"status": status})
        assert (code, body["status"]) == (200, status)
        event = await client.next("models:updated")
        assert (event["action"], event["modelId"]) == (action, "local")

    for current, refused in [("stopped", "running"), ("stopped", "stopping")]:
        code, body = await server.api.patch("/api/models/local", {"status": refused})
        assert code == 409 and body["error"]["code"] == "conflict"
        assert f"cannot go from '{current}' to '{refused}'" in body["error"]["message"]
        assert body["error"]["details"] == {"field": "status", "from": current, "to": refused}

    assert (await server.api.post("/api/models/local/start"))[1]["status"] == "running"
    assert (await client.next("models:updated"))["action"] == "started"
    code, body = await server.api.patch("/api/models/local", {"status": "starting"})
    assert code == 409  # running may only go to stopping or error
    assert (await server.api.post("/api/models/local/start"))[0] == 409
    assert (await server.api.post("/api/models/local/stop"))[1]["status"] == "stopped"
    assert (await client.next("models:updated"))["action"] == "stopped"
    assert (await server.api.post("/api/models/local/stop"))[0] == 409
    assert (await server.api.get("/api/models/local"))[1]["status"] == "stopped"
