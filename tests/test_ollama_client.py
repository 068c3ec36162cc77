"""OllamaClient against a real HTTP server speaking Ollama's protocol."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest

from server.ollama.client import (
    DROPPED_MESSAGE,
    InvalidModelName,
    OllamaClient,
    OllamaError,
    OllamaNotFound,
    OllamaRequestError,
    OllamaUnavailable,
    PullFailed,
    normalize_model_name,
)
from tests.ollama_standin import OllamaStandin

FAST_BYTES = 6_400_000_000  # the big layer in ~20 lines
FAST_LINES = 200
TINY_MODEL_LAYER = 637_699_456


@pytest.fixture
async def standin() -> AsyncIterator[OllamaStandin]:
    async with OllamaStandin(bytes_per_second=FAST_BYTES, lines_per_second=FAST_LINES) as server:
        yield server


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as http:
        yield http


@pytest.fixture
def client(standin: OllamaStandin, session: aiohttp.ClientSession) -> OllamaClient:
    return OllamaClient(standin.url, session, timeout=2.0, stream_read_timeout=5.0)


async def drain(client: OllamaClient, name: str) -> list[dict[str, Any]]:
    return [line async for line in client.pull(name)]


# --- short calls ----------------------------------------------------------------------


async def test_version(client: OllamaClient) -> None:
    assert await client.version() == "0.12.0"


async def test_list_models(client: OllamaClient) -> None:
    [model] = await client.list_models()

    assert model["name"] == "llama3:8b"
    assert model["details"]["quantization_level"] == "Q4_0"
    assert model["size"] > 0


async def test_show(client: OllamaClient) -> None:
    shown = await client.show("llama3:8b")

    assert shown["model_info"]["llama.attention.head_count_kv"] == 8
    assert shown["details"]["parameter_size"] == "8.0B"


async def test_show_missing_model_is_not_found(client: OllamaClient) -> None:
    with pytest.raises(OllamaNotFound) as caught:
        await client.show("nope:1b")

    assert caught.value.message == "model 'nope:1b' not found"
    assert caught.value.status == 404


async def test_delete(client: OllamaClient) -> None:
    await client.delete("llama3:8b")

    assert await client.list_models() == []
    with pytest.raises(OllamaNotFound, match="model 'llama3:8b' not found"):
        await client.delete("llama3:8b")


async def test_ollama_down_fails_fast(
    standin: OllamaStandin, session: aiohttp.ClientSession
) -> None:
    client = OllamaClient(standin.url, session, timeout=30.0)
    await standin.stop()

    async with asyncio.timeout(2.0):  # refused at once, not after the 30 s timeout
        with pytest.raises(OllamaUnavailable, match="cannot reach Ollama"):
            await client.version()
        with pytest.raises(OllamaUnavailable):
            await drain(client, "tinyllama")


async def test_slow_first_byte_beyond_the_short_timeout(
    standin: OllamaStandin, session: aiohttp.ClientSession
) -> None:
    client = OllamaClient(standin.url, session, timeout=0.2, stream_read_timeout=5.0)
    standin.first_byte_delay = 0.6

    with pytest.raises(OllamaUnavailable, match="did not answer in time"):
        await client.list_models()

    # A pull has no total timeout, only a read timeout on silence, so it waits.
    lines = await drain(client, "tinyllama")
    assert lines[-1] == {"status": "success"}


async def test_errors_share_one_base(client: OllamaClient) -> None:
    for failing in (client.show("nope"), drain(client, "nope")):
        with pytest.raises(OllamaError):
            await failing


# --- pulls ------------------------------------------------------------------------------


async def test_pull_happy_path(client: OllamaClient) -> None:
    lines = await drain(client, "tinyllama")

    assert lines[0] == {"status": "pulling manifest"}
    assert lines[-3:] == [
        {"status": "verifying sha256 digest"},
        {"status": "writing manifest"},
        {"status": "success"},
    ]
    progress = [line for line in lines if "digest" in line]
    assert progress[0]["total"] == TINY_MODEL_LAYER and "completed" not in progress[0]
    assert progress[-1]["completed"] == progress[-1]["total"]
    assert "tinyllama:latest" in [m["name"] for m in await client.list_models()]


async def test_pull_fails_mid_stream_with_ollamas_message(
    standin: OllamaStandin, client: OllamaClient
) -> None:
    standin.fail_at_percent = 50
    seen: list[dict[str, Any]] = []

    with pytest.raises(PullFailed) as caught:
        async for line in client.pull("tinyllama"):
            seen.append(line)

    assert caught.value.message == "max retries exceeded: unexpected EOF"
    assert any(line.get("completed", 0) > 0 for line in seen)
    assert "tinyllama:latest" not in [m["name"] for m in await client.list_models()]


async def test_dropped_connection_fails_the_pull(
    standin: OllamaStandin, client: OllamaClient
) -> None:
    standin.drop_at_percent = 30

    with pytest.raises(PullFailed) as caught:
        await drain(client, "tinyllama")

    assert caught.value.message == DROPPED_MESSAGE
    await standin.wait_for(lambda: standin.open_pulls == 0)


async def test_invalid_name_is_a_request_error(client: OllamaClient) -> None:
    with pytest.raises(OllamaRequestError) as caught:
        await drain(client, "Bad Name!")

    assert caught.value.status == 400
    assert caught.value.message == "invalid model name"


async def test_unknown_model_fails_after_the_manifest(client: OllamaClient) -> None:
    seen: list[dict[str, Any]] = []
    with pytest.raises(PullFailed) as caught:
        async for line in client.pull("no-such-model"):
            seen.append(line)

    assert seen == [{"status": "pulling manifest"}]
    assert caught.value.message == "pull model manifest: file does not exist"


async def test_silence_longer_than_the_read_timeout_fails_the_pull(
    standin: OllamaStandin, session: aiohttp.ClientSession
) -> None:
    client = OllamaClient(standin.url, session, timeout=2.0, stream_read_timeout=0.2)
    standin.lines_per_second = 1  # one line a second: longer than the read timeout

    with pytest.raises(PullFailed, match="no pull progress"):
        await drain(client, "tinyllama")
    await standin.wait_for(lambda: standin.open_pulls == 0)


async def test_cancelling_the_consumer_closes_the_upstream_request(
    standin: OllamaStandin, client: OllamaClient
) -> None:
    standin.bytes_per_second = 1_000_000  # far too slow to finish during the test
    started = asyncio.Event()

    async def consume() -> None:
        async for line in client.pull("tinyllama"):
            if line.get("completed"):
                started.set()

    task = asyncio.create_task(consume())
    async with asyncio.timeout(5):
        await started.wait()
    assert standin.open_pulls == 1

    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
    await standin.wait_for(lambda: standin.open_pulls == 0)


async def test_closing_the_iterator_closes_the_upstream_request(
    standin: OllamaStandin, client: OllamaClient
) -> None:
    standin.bytes_per_second = 1_000_000
    async with contextlib.aclosing(client.pull("tinyllama")) as lines:
        async for line in lines:
            if line.get("completed"):
                break
        assert standin.open_pulls == 1
    await standin.wait_for(lambda: standin.open_pulls == 0)


async def test_a_new_pull_resumes_after_a_cancel(
    standin: OllamaStandin, client: OllamaClient
) -> None:
    standin.bytes_per_second = TINY_MODEL_LAYER // 2  # 100 lines for the big layer
    reached = 0
    async with contextlib.aclosing(client.pull("tinyllama")) as lines:
        async for line in lines:
            reached = line.get("completed", 0)
            if reached >= TINY_MODEL_LAYER // 10:
                break
    await standin.wait_for(lambda: standin.open_pulls == 0)

    standin.bytes_per_second = FAST_BYTES
    resumed = await drain(client, "tinyllama")

    first_layer = resumed[1]
    assert first_layer["total"] == TINY_MODEL_LAYER
    assert first_layer["completed"] >= reached > 0
    assert resumed[-1] == {"status": "success"}
    pulls = standin.pull_requests()
    assert [r.body for r in pulls] == [{"model": "tinyllama", "stream": True}] * 2


# --- names -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("llama3.2", "llama3.2:latest"),
        ("llama3.2:3b", "llama3.2:3b"),
        ("library/llama3.2:3b", "llama3.2:3b"),
        ("registry.ollama.ai/library/llama3.2", "llama3.2:latest"),
        (
            "hf.co/bartowski/Llama-3.2-1B-Instruct-GGUF:Q4_K_M",
            "hf.co/bartowski/Llama-3.2-1B-Instruct-GGUF:Q4_K_M",
        ),
        ("mattw/pygmalion", "mattw/pygmalion:latest"),
        ("localhost:5000/me/model:v1", "localhost:5000/me/model:v1"),
        ("  qwen2.5:7b  ", "qwen2.5:7b"),
    ],
)
def test_normalize_model_name(given: str, expected: str) -> None:
    assert normalize_model_name(given) == expected


@pytest.mark.parametrize(
    "given",
    [
        "",
        "   ",
        "-llama",
        "llama 3",
        "llama3:",
        ":latest",
        "a/b/c/d",
        "my.ns/model",
        "model:tag!",
        "x" * 81,
    ],
)
def test_invalid_model_names(given: str) -> None:
    with pytest.raises(InvalidModelName) as caught:
        normalize_model_name(given)

    assert isinstance(caught.value, ValueError)
    assert "invalid model name" in str(caught.value)


async def test_normalize_agrees_with_ollama_about_invalid_names(client: OllamaClient) -> None:
    for name in ["-llama", "llama 3", "my.ns/model", "model:tag!"]:
        with pytest.raises(InvalidModelName):
            normalize_model_name(name)
        with pytest.raises(OllamaRequestError) as caught:
            await drain(client, name)
        assert caught.value.status == 400
