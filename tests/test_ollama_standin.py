"""The Ollama stand-in, driven by the official ``ollama`` Python client.

If the stand-in drifted from Ollama's wire protocol, the official client (which is
written against the real server) would fail to parse it, so these tests hold the
stand-in honest. A few checks use raw HTTP where the client hides the bytes.
"""

from __future__ import annotations

import asyncio
import sys
import time
from collections.abc import AsyncIterator
from datetime import datetime

import aiohttp
import ollama
import pytest

from server.ollama.catalog import load_catalog
from tests.children import ROOT
from tests.ollama_standin import OllamaStandin, RecordedRequest

FAST_BYTES = 6_400_000_000  # the big layer in ~20 lines
FAST_LINES = 200


@pytest.fixture
async def standin() -> AsyncIterator[OllamaStandin]:
    async with OllamaStandin(bytes_per_second=FAST_BYTES, lines_per_second=FAST_LINES) as server:
        yield server


@pytest.fixture
async def official(standin: OllamaStandin) -> AsyncIterator[ollama.AsyncClient]:
    client = ollama.AsyncClient(host=standin.url)
    yield client
    await client.close()


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


async def test_root_and_version_answer_like_ollama(
    standin: OllamaStandin, http: aiohttp.ClientSession
) -> None:
    async with http.get(standin.url + "/") as response:
        assert response.status == 200
        assert await response.text() == "Ollama is running"
    async with http.get(standin.url + "/api/version") as response:
        assert response.headers["Content-Type"] == "application/json; charset=utf-8"
        assert await response.json() == {"version": "0.12.0"}


async def test_list_shows_the_installed_model(official: ollama.AsyncClient) -> None:
    listing = await official.list()

    [model] = listing.models
    assert model.model == "llama3:8b"
    assert isinstance(model.modified_at, datetime)
    assert model.size == 4_661_224_676
    assert model.digest is not None and len(model.digest) == 64
    assert model.details is not None
    assert model.details.family == "llama"
    assert model.details.parameter_size == "8.0B"
    assert model.details.quantization_level == "Q4_0"


async def test_show_returns_raw_gguf_keys(official: ollama.AsyncClient) -> None:
    shown = await official.show("llama3:8b")

    assert shown.modelinfo is not None
    info = shown.modelinfo
    assert info["general.architecture"] == "llama"
    assert info["general.parameter_count"] == 8_030_261_248
    assert info["llama.context_length"] == 8192
    assert info["llama.block_count"] == 32
    assert info["llama.embedding_length"] == 4096
    assert info["llama.attention.head_count"] == 32
    assert info["llama.attention.head_count_kv"] == 8
    assert shown.details is not None and shown.details.quantization_level == "Q4_0"
    assert shown.capabilities == ["completion"]
    assert shown.template and shown.modelfile and shown.parameters
    assert isinstance(shown.modified_at, datetime)


async def test_show_of_a_missing_model_is_404(official: ollama.AsyncClient) -> None:
    with pytest.raises(ollama.ResponseError) as caught:
        await official.show("nope")

    assert caught.value.status_code == 404
    assert caught.value.error == "model 'nope' not found"


async def test_streamed_pull_reports_progress_then_installs(
    standin: OllamaStandin, official: ollama.AsyncClient
) -> None:
    updates = [update async for update in await official.pull("tinyllama", stream=True)]

    statuses = [u.status for u in updates]
    assert statuses[0] == "pulling manifest"
    assert statuses[-3:] == ["verifying sha256 digest", "writing manifest", "success"]
    layers = [u for u in updates if u.digest]
    assert all(u.status == f"pulling {u.digest[7:19]}" for u in layers if u.digest)
    assert len({u.digest for u in layers}) == 3
    first = layers[0]
    assert first.total == 637_699_456 and first.completed is None  # absent while 0
    assert layers[-1].completed == layers[-1].total
    names = [m.model for m in (await official.list()).models]
    assert names == ["tinyllama:latest", "llama3:8b"]  # newest first
    sent = {"model": "tinyllama", "insecure": False, "stream": True}
    assert RecordedRequest("POST", "/api/pull", sent) in standin.requests


async def test_pull_without_streaming_returns_one_object(official: ollama.AsyncClient) -> None:
    result = await official.pull("gemma2:2b", stream=False)

    assert result.status == "success"
    assert "gemma2:2b" in [m.model for m in (await official.list()).models]


async def test_pulling_an_unknown_model_fails_after_the_manifest_line(
    standin: OllamaStandin, http: aiohttp.ClientSession, official: ollama.AsyncClient
) -> None:
    async with http.post(standin.url + "/api/pull", json={"model": "nope"}) as response:
        assert response.status == 200
        assert response.headers["Content-Type"] == "application/x-ndjson"
        body = await response.read()
    assert body == (
        b'{"status":"pulling manifest"}\n{"error":"pull model manifest: file does not exist"}\n'
    )

    with pytest.raises(ollama.ResponseError) as streamed:
        async for _ in await official.pull("nope", stream=True):
            pass
    assert streamed.value.error == "pull model manifest: file does not exist"

    with pytest.raises(ollama.ResponseError) as whole:
        await official.pull("nope", stream=False)
    assert whole.value.status_code == 500


async def test_invalid_names_are_rejected_before_streaming(official: ollama.AsyncClient) -> None:
    with pytest.raises(ollama.ResponseError) as caught:
        async for _ in await official.pull("-bad name", stream=True):
            pass

    assert caught.value.status_code == 400
    assert caught.value.error == "invalid model name"


async def test_delete_then_delete_again(
    standin: OllamaStandin, official: ollama.AsyncClient, http: aiohttp.ClientSession
) -> None:
    assert (await official.delete("llama3:8b")).status == "success"
    assert (await official.list()).models == []

    with pytest.raises(ollama.ResponseError) as caught:
        await official.delete("llama3:8b")
    assert caught.value.status_code == 404
    assert caught.value.error == "model 'llama3:8b' not found"

    standin.install("llama3:8b")
    async with http.delete(standin.url + "/api/delete", json={"name": "llama3:8b"}) as response:
        assert response.status == 200
        assert await response.read() == b""  # Ollama writes no body on success


async def test_a_bare_name_means_latest(official: ollama.AsyncClient) -> None:
    await official.pull("tinyllama", stream=False)

    shown = await official.show("tinyllama:latest")
    also = await official.show("library/tinyllama")
    assert shown.modelinfo == also.modelinfo


async def test_repulling_reports_each_present_layer_once_as_complete(
    official: ollama.AsyncClient,
) -> None:
    updates = [u async for u in await official.pull("llama3:8b", stream=True)]

    layers = [u for u in updates if u.digest]
    assert len(layers) == 5
    assert all(u.completed == u.total for u in layers)
    assert "removing unused layers" not in [u.status for u in updates]


async def test_a_changed_manifest_removes_unused_layers(
    standin: OllamaStandin, official: ollama.AsyncClient
) -> None:
    standin.catalog["llama3:8b"].layers[-1] += 1  # a new config blob upstream

    updates = [u async for u in await official.pull("llama3:8b", stream=True)]

    assert [u.status for u in updates][-2:] == ["removing unused layers", "success"]


async def test_hundreds_of_lines_per_second(
    standin: OllamaStandin, official: ollama.AsyncClient
) -> None:
    standin.bytes_per_second = 637_699_456  # 200 lines for the big layer
    started = time.monotonic()
    updates = [u async for u in await official.pull("tinyllama", stream=True)]
    elapsed = time.monotonic() - started

    assert len(updates) > 200
    assert len(updates) / elapsed > 100


async def test_partial_progress_survives_a_closed_connection(
    standin: OllamaStandin, official: ollama.AsyncClient
) -> None:
    standin.lines_per_second = 50
    standin.bytes_per_second = 637_699_456 // 4  # 200 lines; the test stops early
    stream = await official.pull("tinyllama", stream=True)
    seen = 0
    async for update in stream:
        seen = update.completed or 0
        if seen > 0:
            break
    await stream.aclose()
    await standin.wait_for(lambda: standin.open_pulls == 0)

    assert standin.partial_bytes("tinyllama") >= seen > 0
    standin.bytes_per_second = FAST_BYTES
    resumed = [u async for u in await official.pull("tinyllama", stream=True)]
    assert (resumed[1].completed or 0) >= seen
    assert resumed[-1].status == "success"


async def test_stopping_refuses_connections_and_starting_restores_state(
    standin: OllamaStandin, official: ollama.AsyncClient
) -> None:
    port = standin.port
    await standin.stop()
    with pytest.raises(ConnectionError):
        await official.list()

    await standin.start()
    assert standin.port == port
    assert [m.model for m in (await official.list()).models] == ["llama3:8b"]


# -- the models it knows -------------------------------------------------------------


async def test_every_catalog_model_pulls_and_shows(official: ollama.AsyncClient) -> None:
    """The names modeldeck's catalog offers (the README's llama3.2:3b among them) all pull."""
    names = [f"{model.name}:{tag}" for model in load_catalog().models for tag in model.tags]
    assert "llama3.2:3b" in names
    for name in names:
        assert (await official.pull(name)).status == "success", name
        shown = await official.show(name)
        assert shown.details is not None and shown.details.parameter_size, name
    installed = {m.model for m in (await official.list()).models}
    assert installed >= set(names)


async def test_help_lists_every_model_it_can_pull() -> None:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "tests.ollama_standin", "--help",
        stdout=asyncio.subprocess.PIPE, cwd=ROOT,
    )  # fmt: skip
    out, _ = await asyncio.wait_for(proc.communicate(), 20)
    assert proc.returncode == 0
    listed = set(out.decode().split("models it can pull", 1)[1].replace(",", " ").split())
    expected = {f"{m.name}:{tag}" for m in load_catalog().models for tag in m.tags}
    assert expected | {"llama3:8b", "tinyllama:latest"} <= listed
