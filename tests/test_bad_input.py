"""Bad input answers a 4xx naming the field, never a 500, and writes nothing."""

from __future__ import annotations

from typing import Any

import aiohttp
import orjson
import pytest

from tests.conftest import Running


def nested(depth: int) -> Any:
    value: Any = 1
    for _ in range(depth - 1):
        value = {"a": value}
    return value


def nested_json(depth: int) -> bytes:
    """Written out, since no JSON encoder here goes that deep (orjson stops at 254)."""
    return b'{"a":' * (depth - 1) + b"1" + b"}" * (depth - 1)


JSON = {"Content-Type": "application/json"}


@pytest.mark.parametrize("since", ["9223372036854775808", "99999999999999999999999"])
async def test_a_since_beyond_int64_is_a_422_naming_it(server: Running, since: str) -> None:
    status, body = await server.api.get(f"/api/events?since={since}")
    assert status == 422, body
    assert body["error"]["message"].startswith("since:")
    largest = 2**63 - 1
    assert (await server.api.get(f"/api/events?since={largest}")) == (200, [])


@pytest.mark.parametrize("depth", [40, 300, 1000])
async def test_a_config_section_nested_too_deep_is_a_422(server: Running, depth: int) -> None:
    path = "/api/models/sdxl/config/lora"
    raw = b'{"adapters": [' + nested_json(depth) + b"]}"
    status, body = await server.api.put(path, data=raw, headers=JSON)
    assert status == 422, body
    assert body["error"]["message"] == "body: nested deeper than 32 levels"
    assert (await server.api.get(path))[1]["config"] == {}  # nothing written


async def test_every_json_body_is_held_to_the_same_depth(server: Running) -> None:
    raw = b'{"name": ' + nested_json(500) + b"}"
    status, body = await server.api.post("/api/providers", data=raw, headers=JSON)
    assert status == 422, body
    assert body["error"]["message"] == "body: nested deeper than 32 levels"


async def test_a_deep_config_over_the_socket_is_refused_too(server: Running, connect) -> None:
    client = await connect(server.url)
    reply = await client.sio.call(
        "save_config", {"id": "sdxl", "type": "lora", "config": nested(200)}, timeout=10
    )
    assert reply["success"] is False
    assert reply["error"]["message"] == "config: nested deeper than 32 levels"


async def test_integers_beyond_64_bits_in_a_config_are_a_422(server: Running) -> None:
    path = "/api/models/sdxl/config/sampling"
    for raw in (b'{"seed": 18446744073709551616}', b'{"topK": 1e300}'):
        status, body = await server.api.put(path, data=raw, headers=JSON)
        assert status == 422, (raw, body)
    # a whole float is the integer it spells, as JSON Schema's "integer" says
    assert (await server.api.put(path, {"seed": 42.0}))[1]["config"] == {"seed": 42}


@pytest.mark.parametrize(
    ("path", "body", "field"),
    [
        ("/api/models", {"name": "m", "isDefault": 0}, "isDefault"),
        ("/api/models", {"name": "m", "enabled": "true"}, "enabled"),
        ("/api/models", {"name": "m", "contextLength": "4096"}, "contextLength"),
        ("/api/models", {"name": "m", "threads": True}, "threads"),
        ("/api/credentials/qwen", {"token": "t", "expiresAt": False}, "expiresAt"),
        ("/api/credentials/qwen", {"token": "t", "expiresAt": "1700000000"}, "expiresAt"),
        ("/api/providers", {"name": "p", "sdkId": "p", "enabled": 1}, "enabled"),
    ],
)
async def test_booleans_are_booleans_and_numbers_are_numbers(
    server: Running, path: str, body: dict[str, Any], field: str
) -> None:
    status, answer = await server.api.post(path, body)
    assert status == 422, answer
    assert answer["error"]["message"].startswith(f"{field}:")


@pytest.mark.parametrize("value", ["yes", "1", "on", "TRUE"])
async def test_a_boolean_query_is_true_or_false(server: Running, value: str) -> None:
    status, body = await server.api.get(f"/api/models?enabled={value}")
    assert status == 422, body
    assert body["error"]["message"] == "enabled: must be true or false"
    assert (await server.api.get("/api/models?enabled=true"))[0] == 200


async def test_a_405_names_the_allowed_methods(
    server: Running, http: aiohttp.ClientSession
) -> None:
    async with http.patch(server.url + "/api/models") as resp:
        assert resp.status == 405
        assert set(resp.headers["Allow"].split(", ")) == {"GET", "HEAD", "POST"}
        assert orjson.loads(await resp.read())["error"]["code"] == "method_not_allowed"
    async with http.delete(server.url + "/api/ollama/models/llama3:8b/vram") as resp:
        assert resp.status == 405  # not a delete of a model called "llama3:8b/vram"
        assert set(resp.headers["Allow"].split(", ")) == {"GET", "HEAD"}
