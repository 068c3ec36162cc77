"""Writes over the socket (seed 000): answered by ack and reply event, broadcast like REST."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import pytest
import socketio

from tests.clients import EventRecorder
from tests.conftest import Running, ServerFactory

Connect = Callable[..., Awaitable[EventRecorder]]

SECTIONS = ("sampling", "memory", "gpu", "advanced", "lora", "multimodal")
LLAMA = {
    "name": "Llama Local",
    "type": "chat",
    "status": "stopped",
    "ctx_size": 4096,
    "batch_size": 512,
    "threads": 8,
    "model_path": "/models/llama-3.2-3b.gguf",
    "model_url": "https://huggingface.co/meta/llama-3.2-3b.gguf",
}


async def ask(client: EventRecorder, event: str, data: Any, reply_event: str) -> Any:
    """Send a request the way the seed's page does and return the ack, after checking
    that the reply event the page listens for carried the very same answer."""
    ack = await client.call(event, data)
    assert await client.next(reply_event) == ack
    return ack


def without_seq(payload: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in payload.items() if k not in ("seq", "timestamp")}


async def test_save_model_is_answered_twice_and_broadcast(
    server: Running, connect: Connect
) -> None:
    alice, bob = await connect(server.url), await connect(server.url)
    reply = await ask(alice, "save_model", LLAMA, "model_saved")
    assert reply["success"] is True and "error" not in reply
    model = reply["data"]
    assert model["id"] == "llama-local"
    assert model["ctxSize"] == 4096 and model["batchSize"] == 512 and model["threads"] == 8
    assert model["modelUrl"] == LLAMA["model_url"]
    assert (await server.api.get("/api/models/llama-local")) == (200, model)
    for client in (alice, bob):
        event = await client.next("models:updated")
        assert event["action"] == "created" and event["modelId"] == "llama-local"
        assert event["total"] == 8 and model in event["items"]
    # The reply goes to the sender only: a round trip on bob's socket comes after
    # anything the server had queued for him before it.
    await bob.call("models:list")
    assert bob.of("model_saved") == []


async def test_update_model_changes_fields_and_broadcasts(
    server: Running, connect: Connect
) -> None:
    alice, bob = await connect(server.url), await connect(server.url)
    await ask(alice, "save_model", LLAMA, "model_saved")
    await bob.next("models:updated")
    reply = await ask(
        alice,
        "update_model",
        {"id": "llama-local", "updates": {"ctxSize": 8192, "description": "local"}},
        "model_updated",
    )
    assert reply["success"] is True
    assert reply["data"]["ctxSize"] == 8192 and reply["data"]["description"] == "local"
    assert reply["data"]["batchSize"] == 512  # untouched fields stay
    event = await bob.next("models:updated")
    assert event["action"] == "updated" and event["modelId"] == "llama-local"
    assert reply["data"] in event["items"]


async def test_status_updates_follow_the_lifecycle(server: Running, connect: Connect) -> None:
    alice, bob = await connect(server.url), await connect(server.url)
    await ask(alice, "save_model", LLAMA, "model_saved")
    await bob.next("models:updated")
    chain = [
        ("starting", "updated"),
        ("running", "started"),
        ("stopping", "updated"),
        ("stopped", "stopped"),
        ("starting", "updated"),
        ("error", "updated"),
        ("stopped", "stopped"),
    ]
    for status, action in chain:
        request = {"id": "llama-local", "updates": {"status": status}}
        reply = await ask(alice, "update_model", request, "model_updated")
        assert reply["success"] is True and reply["data"]["status"] == status
        event = await bob.next("models:updated")
        assert (event["action"], event["modelId"]) == (action, "llama-local")

    refused = await ask(
        alice,
        "update_model",
        {"id": "llama-local", "updates": {"status": "running"}},
        "model_updated",
    )
    assert refused["success"] is False and refused["data"] is None
    assert refused["error"]["code"] == "conflict"
    assert "cannot go from 'stopped' to 'running'" in refused["error"]["message"]
    _, model = await server.api.get("/api/models/llama-local")
    assert model["status"] == "stopped"


async def test_delete_model_answers_its_id_and_drops_its_configs(
    server: Running, connect: Connect
) -> None:
    alice, bob = await connect(server.url), await connect(server.url)
    await ask(alice, "save_model", LLAMA, "model_saved")
    config = {"temperature": 0.4}
    request = {"id": "llama-local", "type": "sampling", "config": config}
    assert (await ask(alice, "save_config", request, "config_saved"))["success"] is True

    reply = await ask(alice, "delete_model", {"id": "llama-local"}, "model_deleted")
    assert reply == {"success": True, "data": {"id": "llama-local"}}
    event = await bob.next("models:updated", where=lambda e: e["action"] == "deleted")
    assert event["modelId"] == "llama-local" and event["total"] == 7
    assert (await server.api.get("/api/models/llama-local"))[0] == 404

    await ask(alice, "save_model", LLAMA, "model_saved")
    loaded = await ask(
        alice, "load_config", {"id": "llama-local", "type": "sampling"}, "config_loaded"
    )
    assert loaded["data"] == {"id": "llama-local", "type": "sampling", "config": {}}


async def test_every_config_section_round_trips(server: Running, connect: Connect) -> None:
    alice, bob = await connect(server.url), await connect(server.url)
    given = {
        "sampling": {"temperature": 0.7, "top_p": 0.9, "topK": 40, "mirostat": 2},
        "memory": {"ctx_size": 8192, "batchSize": 256, "mlock": True, "cacheTypeK": "q8_0"},
        "gpu": {"n_gpu_layers": 33, "mainGpu": 0, "tensorSplit": [0.6, 0.4], "numa": False},
        "advanced": {"threads": 6, "rope_freq_base": 10000.0, "custom": {"a": [1, 2]}},
        "lora": {"adapters": [{"path": "/l/a.gguf", "scale": 0.5}], "scale": 1.0},
        "multimodal": {"mmproj_path": "/m/proj.gguf", "imageMaxTokens": 576, "note": None},
    }
    stored = {
        "sampling": {"temperature": 0.7, "topP": 0.9, "topK": 40, "mirostat": 2},
        "memory": {"ctxSize": 8192, "batchSize": 256, "mlock": True, "cacheTypeK": "q8_0"},
        "gpu": {"nGpuLayers": 33, "mainGpu": 0, "tensorSplit": [0.6, 0.4], "numa": False},
        "advanced": {"threads": 6, "ropeFreqBase": 10000.0, "custom": {"a": [1, 2]}},
        "lora": {"adapters": [{"path": "/l/a.gguf", "scale": 0.5}], "scale": 1.0},
        "multimodal": {"mmprojPath": "/m/proj.gguf", "imageMaxTokens": 576, "note": None},
    }
    for section in SECTIONS:
        empty = await ask(alice, "load_config", {"id": "sdxl", "type": section}, "config_loaded")
        assert empty == {"success": True, "data": {"id": "sdxl", "type": section, "config": {}}}
        request = {"id": "sdxl", "type": section, "config": given[section]}
        saved = await ask(alice, "save_config", request, "config_saved")
        expected = {"id": "sdxl", "type": section, "config": stored[section]}
        assert saved == {"success": True, "data": expected}
        event = await bob.next("models:updated")
        assert (event["action"], event["modelId"]) == ("config", "sdxl")
        loaded = await ask(alice, "load_config", {"id": "sdxl", "type": section}, "config_loaded")
        assert loaded["data"] == expected
        assert await server.api.get(f"/api/models/sdxl/config/{section}") == (200, expected)


def config(section: str, body: Any = None, model_id: str = "sdxl") -> dict[str, Any]:
    """A ``save_config`` request (``body`` None: one without its config)."""
    request = {"id": model_id, "type": section, "config": body}
    return request if body is not None else {"id": model_id, "type": section}


INVALID = "validation_error"
FAILURES = [
    ("save_model", "not an object", "bad_request", "request"),
    ("save_model", {"name": "x", "type": "video"}, INVALID, "type"),
    ("save_model", {"name": "x", "ctx_size": 0}, INVALID, "ctxSize"),
    ("save_model", {"name": "x", "modelUrl": "not a url"}, INVALID, "modelUrl"),
    ("save_model", {"name": "x", "colour": "red"}, INVALID, "colour"),
    ("save_model", {"id": "sdxl", "name": "Again"}, "conflict", "sdxl"),
    ("update_model", ["sdxl"], "bad_request", "request"),
    ("update_model", {"id": "sdxl"}, INVALID, "updates"),
    ("update_model", {"id": "missing", "updates": {"name": "y"}}, "not_found", "missing"),
    ("update_model", {"id": "sdxl", "updates": {"ctxSize": -1}}, INVALID, "updates.ctxSize"),
    ("update_model", {"id": "sdxl", "updates": {"status": "running"}}, "conflict", "status"),
    ("delete_model", None, "bad_request", "request"),
    ("delete_model", {"id": "missing"}, "not_found", "missing"),
    ("load_config", {"id": "sdxl", "type": "colour"}, "not_found", "section"),
    ("load_config", {"id": "missing", "type": "sampling"}, "not_found", "missing"),
    ("save_config", config("weights", {}), "not_found", "section"),
    ("save_config", config("gpu", {}, model_id="missing"), "not_found", "missing"),
    ("save_config", config("gpu"), INVALID, "config"),
    ("save_config", config("gpu", [1]), "bad_request", "config"),
    ("save_config", config("gpu", "hot"), "bad_request", "config"),
    ("save_config", config("sampling", {"temperature": 2.5}), INVALID, "temperature"),
    ("save_config", config("memory", {"ctxSize": 0}), INVALID, "ctxSize"),
    ("save_config", config("lora", {"n": "x" * 70_000}), "payload_too_large", "config"),
]
REPLY_EVENTS = {
    "save_model": "model_saved",
    "update_model": "model_updated",
    "delete_model": "model_deleted",
    "load_config": "config_loaded",
    "save_config": "config_saved",
}


async def test_failed_requests_answer_false_and_reach_no_one(
    server: Running, connect: Connect
) -> None:
    alice, bob = await connect(server.url), await connect(server.url)
    await bob.wait_for("proxy:status")
    _, before = await server.api.get("/api/models")
    for event, data, code, named in FAILURES:
        reply = await ask(alice, event, data, REPLY_EVENTS[event])
        assert reply["success"] is False and reply["data"] is None, (event, data)
        assert reply["error"]["code"] == code, (event, data, reply)
        assert named in reply["error"]["message"], (event, data, reply)
    assert (await server.api.get("/api/models"))[1] == before
    assert (await server.api.get("/api/models/sdxl/config/sampling"))[1]["config"] == {}
    # Events go out in commit order, so the first one bob sees after the failures would
    # have been preceded by any event a failed request had caused.
    await ask(alice, "update_model", {"id": "sdxl", "updates": {"threads": 4}}, "model_updated")
    first = await bob.next("models:updated")
    assert (first["action"], first["modelId"], first["seq"]) == ("updated", "sdxl", 1)
    assert [name for name, _ in bob.events if name != "proxy:status"] == ["models:updated"]


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({"id": "sdxl", "updates": {"ctxSize": "big"}}, "updates.ctxSize"),
        ({"id": "sdxl", "updates": {"batchSize": 1.5}}, "updates.batchSize"),
        ({"id": "sdxl", "updates": {"threads": 0}}, "updates.threads"),
        ({"id": "sdxl", "updates": {"modelUrl": "ftp//nowhere"}}, "updates.modelUrl"),
        ({"id": "sdxl", "updates": {"status": "paused"}}, "updates.status"),
        ({"id": "sdxl", "updates": {"name": None}}, "updates.name"),
        ({"id": "sdxl", "updates": "threads=4"}, "updates"),
        ({"id": 7, "updates": {}}, "id"),
    ],
)
async def test_update_model_names_the_bad_field(
    server: Running, connect: Connect, data: dict[str, Any], field: str
) -> None:
    alice = await connect(server.url)
    reply = await ask(alice, "update_model", data, "model_updated")
    assert reply["success"] is False
    assert reply["error"]["code"] == "validation_error"
    assert reply["error"]["message"].startswith(f"{field}: ")
    assert reply["error"]["details"][0]["field"] == field


async def test_models_list_acks_what_rest_lists(server: Running, connect: Connect) -> None:
    alice = await connect(server.url)
    await ask(alice, "save_model", LLAMA, "model_saved")
    _, everything = await server.api.get("/api/models")
    assert await alice.call("models:list") == everything
    _, images = await server.api.get("/api/models?type=image")
    assert await alice.call("models:list", {"type": "image"}) == images
    assert len(images) == 4
    refused = await alice.call("models:list", {"type": "video"})
    assert refused["success"] is False and refused["error"]["code"] == "validation_error"


async def test_rest_and_socket_writes_broadcast_the_same(server: Running, connect: Connect) -> None:
    alice, bob = await connect(server.url), await connect(server.url)
    await bob.wait_for("proxy:status")

    async def broadcasts() -> tuple[dict[str, Any], dict[str, Any]]:
        models = await bob.next("models:updated")
        status = await bob.next("proxy:status", where=lambda s: s["seq"] > models["seq"])
        assert status["seq"] == models["seq"] + 1
        return models, status

    # A config write leaves the model rows as they are: the broadcasts must be equal.
    config = {"temperature": 0.3, "top_k": 20, "mirostat": 1}
    assert (await server.api.put("/api/models/sdxl/config/sampling", config))[0] == 200
    by_rest = await broadcasts()
    request = {"id": "sdxl", "type": "sampling", "config": config}
    assert (await ask(alice, "save_config", request, "config_saved"))["success"] is True
    by_socket = await broadcasts()
    for rest, socket in zip(by_rest, by_socket, strict=True):
        assert without_seq(rest) == without_seq(socket)

    # A model update stamps the row's updatedAt, the only other difference allowed.
    change = {"description": "A fast image model", "ctxSize": 2048}
    status, updated = await server.api.patch("/api/models/sdxl", change)
    assert status == 200
    by_rest = await broadcasts()
    reply = await ask(alice, "update_model", {"id": "sdxl", "updates": change}, "model_updated")
    by_socket = await broadcasts()
    assert {**reply["data"], "updatedAt": None} == {**updated, "updatedAt": None}

    def comparable(payload: dict[str, Any]) -> dict[str, Any]:
        def unstamped(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
            return [{**m, "updatedAt": None} if m["id"] == "sdxl" else m for m in items]

        if "items" in payload:  # models:updated
            return without_seq(payload) | {"items": unstamped(payload["items"])}
        models = payload["models"]  # proxy:status
        return without_seq(payload) | {"models": models | {"items": unstamped(models["items"])}}

    for rest, socket in zip(by_rest, by_socket, strict=True):
        assert comparable(rest) == comparable(socket)


async def test_socket_writes_need_only_the_connection_token(
    start_server: ServerFactory, connect: Connect
) -> None:
    server = await start_server(token="s3cret-token")
    with pytest.raises(socketio.exceptions.ConnectionError):
        await connect(server.url)
    alice = await connect(server.url, auth={"token": "s3cret-token"})
    reply = await ask(alice, "save_model", LLAMA, "model_saved")
    assert reply["success"] is True
    assert (await server.api.get("/api/models/llama-local"))[1] == reply["data"]
