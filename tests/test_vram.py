"""VRAM estimates from real ``/api/show`` answers and from the static catalog."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest

from server.ollama.client import OllamaClient
from server.ollama.vram import (
    FIXED_OVERHEAD_BYTES,
    GIB,
    estimate_from_catalog,
    estimate_from_show,
    gpu_class,
)
from tests.ollama_standin import OllamaStandin


@pytest.fixture
async def client() -> AsyncIterator[OllamaClient]:
    async with (
        OllamaStandin(installed=["llama3:8b", "tinyllama", "gemma2:2b"]) as standin,
        aiohttp.ClientSession() as session,
    ):
        yield OllamaClient(standin.url, session)


async def show_and_size(client: OllamaClient, name: str) -> tuple[dict[str, Any], int]:
    sizes = {m["name"]: m["size"] for m in await client.list_models()}
    return await client.show(name), sizes[name]


async def test_llama3_8b_holds_exactly_one_gib_of_kv_cache_at_8k(client: OllamaClient) -> None:
    show, size = await show_and_size(client, "llama3:8b")

    estimate = estimate_from_show(show, size_bytes=size, context=None, model="llama3:8b")

    # 8192 tokens x 32 layers x (128 + 128) head dims x 8 KV heads x 2 bytes (f16)
    at_8k = estimate.at_model_context
    assert at_8k is not None
    assert at_8k.context == 8192
    assert estimate.head_dim_k == estimate.head_dim_v == 128
    assert at_8k.kv_cache.bytes == 8192 * 32 * 256 * 8 * 2 == GIB
    assert at_8k.kv_cache.gib == 1.0


async def test_tinyllama_by_hand(client: OllamaClient) -> None:
    show, size = await show_and_size(client, "tinyllama:latest")

    estimate = estimate_from_show(show, size_bytes=size, context=1024)

    # weights: 1,100,048,384 parameters x 4.5 bits (Q4_0) / 8
    weights = 1_100_048_384 * 9 // 16
    assert weights == 618_777_216
    # KV at 2048: 2048 x 22 layers x (64 + 64) x 4 KV heads x 2 bytes; head_dim 2048/32
    kv = 2048 * 22 * 128 * 4 * 2
    assert kv == 46_137_344
    # graph: max(4*512*(1 + 4*2048 + 2048*(1+32)), 4*512*(2048 + 32000))
    graph = max(2048 * (1 + 8192 + 2048 * 33), 2048 * (2048 + 32_000))
    assert graph == 155_191_296
    total = weights + kv + graph + FIXED_OVERHEAD_BYTES
    assert total == 1_356_976_768

    at_model = estimate.at_model_context
    assert at_model is not None
    assert at_model.weights.bytes == weights
    assert at_model.kv_cache.bytes == kv
    assert at_model.compute_graph.bytes == graph
    assert at_model.overhead.bytes == 512 * 1024 * 1024
    assert at_model.total.bytes == total
    assert at_model.total.gib == round(total / GIB, 3) == 1.264
    assert at_model.gpu_class == "4GB+ VRAM (GTX 1650, etc.)"

    # At 1024 tokens the KV cache halves and the graph is sized for 1024 too.
    at_1k = estimate.at_requested_context
    assert at_1k is not None
    assert at_1k.kv_cache.bytes == kv // 2
    assert at_1k.compute_graph.bytes == max(2048 * (1 + 8192 + 1024 * 33), 2048 * (2048 + 32_000))
    assert estimate.total == at_1k.total
    assert estimate.weights_from == "parameters"


async def test_head_dims_come_from_key_and_value_length(client: OllamaClient) -> None:
    show, size = await show_and_size(client, "gemma2:2b")

    estimate = estimate_from_show(show, size_bytes=size, context=None)

    # gemma2 states key_length 256, though embedding/heads would give 2304/8 = 288.
    assert estimate.head_dim_k == estimate.head_dim_v == 256
    at_model = estimate.at_model_context
    assert at_model is not None
    assert at_model.kv_cache.bytes == 8192 * 26 * 512 * 4 * 2


async def test_unknown_quantization_falls_back_to_the_blob_size(client: OllamaClient) -> None:
    show, size = await show_and_size(client, "llama3:8b")
    show["details"]["quantization_level"] = "Q9_UNKNOWN"

    estimate = estimate_from_show(show, size_bytes=size, context=None)

    assert estimate.weights_from == "blob_size"
    assert estimate.at_model_context is not None
    assert estimate.at_model_context.weights.bytes == size


async def test_output_uses_camel_case(client: OllamaClient) -> None:
    show, size = await show_and_size(client, "llama3:8b")

    body = estimate_from_show(show, size_bytes=size, context=4096).model_dump(by_alias=True)

    assert {"atModelContext", "atRequestedContext", "estimatedVramGb", "gpuClass"} <= set(body)
    assert {"kvCache", "computeGraph", "weights", "overhead", "total"} <= set(
        body["atModelContext"]
    )
    assert set(body["total"]) == {"bytes", "gib"}


def test_gpu_classes_follow_the_plan() -> None:
    assert gpu_class(3 * GIB) == "4GB+ VRAM (GTX 1650, etc.)"
    assert gpu_class(6 * GIB) == "8GB+ VRAM (RTX 3060, RTX 4060)"
    assert gpu_class(10 * GIB) == "12GB+ VRAM (RTX 3080, RTX 4070)"
    assert gpu_class(20 * GIB) == "24GB+ VRAM (RTX 3090, RTX 4090)"
    assert gpu_class(40 * GIB) == "48GB+ VRAM (A6000, multi-GPU)"


def test_catalog_fallback_for_a_model_that_is_not_installed() -> None:
    estimate = estimate_from_catalog("llama3.1:70b", context=None)

    assert estimate is not None
    assert estimate.source == "catalog"
    assert estimate.estimated_vram_gb == 40.0
    assert estimate.total.bytes == 40 * GIB
    assert estimate.gpu_class == "48GB+ VRAM (A6000, multi-GPU)"
    assert estimate.parameter_size == "70B"
    assert estimate.at_model_context is None


def test_catalog_latest_resolves_to_its_tag() -> None:
    latest = estimate_from_catalog("llama3.2", context=8192)

    assert latest is not None
    assert latest.model == "llama3.2:latest"
    assert latest.estimated_vram_gb == 3.0  # latest is the 3b tag
    assert estimate_from_catalog("not-in-catalog:7b", context=None) is None
    assert estimate_from_catalog("llama3.2:90b", context=None) is None


def test_context_must_be_positive() -> None:
    with pytest.raises(ValueError, match="positive"):
        estimate_from_catalog("llama3.2", context=0)
