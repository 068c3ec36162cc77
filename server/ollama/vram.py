"""How much GPU memory a model needs: an estimate from ``/api/show``, term by term.

For an installed model the estimate is computed from the raw GGUF keys Ollama returns
in ``model_info`` (``<arch>`` is ``general.architecture``)::

    weights       = general.parameter_count x bits_per_weight(quantization) / 8
                    (the model blob's size on disk when either is unknown)
    kv_cache      = context x block_count x (head_dim_k + head_dim_v)
                    x head_count_kv x 2 bytes (f16 cache, Ollama's default)
                    head_dim_k/v = <arch>.attention.key_length / value_length,
                    else embedding_length / head_count
    compute_graph = max(4 x B x (1 + 4 x E + context x (1 + H)), 4 x B x (E + V))
                    Ollama's full-offload graph size for llama-style models
                    (fs/ggml/ggml.go GraphSize): B = 512 (num_batch), E =
                    embedding_length, H = head_count, V = vocab_size (0 if unknown)
    overhead      = 512 MiB fixed: CUDA/Metal context and runtime buffers
    total         = weights + kv_cache + compute_graph + overhead

Example: Llama 3 8B (32 layers, 8 KV heads, head_dim 128) at 8192 tokens holds
8192 x 32 x 256 x 8 x 2 = 1,073,741,824 bytes = exactly 1 GiB of f16 KV cache.

Each term is given for the model's own ``context_length`` and, when asked, for a
caller's context (Ollama loads models at ``num_ctx``, often far below the maximum).
``gpu_class`` names the smallest VRAM class the total fits, using the plan's classes.

A catalog model that is not installed has no ``model_info``; its estimate is the
plan's static figure (``server/ollama/data/ollama_catalog.json``), which does not vary with
context. All figures are estimates: real use varies with backend, flash attention and
KV-cache quantization.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict
from pydantic.alias_generators import to_camel

from server.ollama.catalog import find_catalog_tag
from server.ollama.client import InvalidModelName, normalize_model_name

__all__ = [
    "VramBreakdown",
    "VramEstimate",
    "VramTerm",
    "bits_per_weight",
    "estimate_from_catalog",
    "estimate_from_show",
    "gpu_class",
]

GIB = 1024**3
MIB = 1024**2
KV_BYTES_PER_ELEMENT = 2  # f16
GRAPH_BATCH = 512
FIXED_OVERHEAD_BYTES = 512 * MIB
DEFAULT_CONTEXT = 4096  # Ollama's default num_ctx, used when a model states none

# Effective bits per weight of llama.cpp's quantization types: exact block sizes for
# the uniform types (Q4_0 stores 32 weights in 18 bytes = 4.5 bits), the commonly
# quoted averages for the K-quant mixes, which keep some tensors at higher precision.
_BITS_PER_WEIGHT: dict[str, float] = {
    "F32": 32.0,
    "F16": 16.0,
    "BF16": 16.0,
    "Q8_0": 8.5,
    "Q6_K": 6.5625,
    "Q5_K_M": 5.69,
    "Q5_K_S": 5.54,
    "Q5_1": 6.0,
    "Q5_0": 5.5,
    "Q4_K_M": 4.85,
    "Q4_K_S": 4.58,
    "Q4_1": 5.0,
    "Q4_0": 4.5,
    "IQ4_NL": 4.5,
    "IQ4_XS": 4.25,
    "MXFP4": 4.25,
    "Q3_K_L": 4.27,
    "Q3_K_M": 3.91,
    "Q3_K_S": 3.5,
    "IQ3_XXS": 3.06,
    "Q2_K": 3.35,
    "IQ2_XS": 2.31,
}

# The plan's GPU classes: (largest total in GiB that fits, label).
_GPU_CLASSES: list[tuple[float, str]] = [
    (4.0, "4GB+ VRAM (GTX 1650, etc.)"),
    (8.0, "8GB+ VRAM (RTX 3060, RTX 4060)"),
    (12.0, "12GB+ VRAM (RTX 3080, RTX 4070)"),
    (24.0, "24GB+ VRAM (RTX 3090, RTX 4090)"),
]
_LARGEST_CLASS = "48GB+ VRAM (A6000, multi-GPU)"


class _Out(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True)


class VramTerm(_Out):
    bytes: int
    gib: float

    @classmethod
    def of(cls, size: int | float) -> VramTerm:
        size = int(size)
        return cls(bytes=size, gib=round(size / GIB, 3))


class VramBreakdown(_Out):
    """Every term of the estimate at one context length."""

    context: int
    weights: VramTerm
    kv_cache: VramTerm
    compute_graph: VramTerm
    overhead: VramTerm
    total: VramTerm
    gpu_class: str


class VramEstimate(_Out):
    model: str | None = None
    source: Literal["show", "catalog"]
    architecture: str | None = None
    parameter_count: int | None = None
    parameter_size: str | None = None
    quantization: str | None = None
    bits_per_weight: float | None = None
    weights_from: Literal["parameters", "blob_size", "catalog"]
    context_length: int | None = None
    block_count: int | None = None
    head_count_kv: int | None = None
    head_dim_k: int | None = None
    head_dim_v: int | None = None
    at_model_context: VramBreakdown | None = None
    at_requested_context: VramBreakdown | None = None
    total: VramTerm
    estimated_vram_gb: float
    gpu_class: str
    notes: list[str] = []


def bits_per_weight(quantization: str | None) -> float | None:
    """Bits per weight for an Ollama ``quantization_level`` such as ``Q4_K_M``."""
    if not quantization:
        return None
    return _BITS_PER_WEIGHT.get(quantization.strip().upper())


def gpu_class(total_bytes: int) -> str:
    """The smallest of the plan's GPU classes whose memory holds ``total_bytes``."""
    gib = total_bytes / GIB
    for limit, label in _GPU_CLASSES:
        if gib <= limit:
            return label
    return _LARGEST_CLASS


def _int(value: Any) -> int | None:
    """A GGUF number; per-layer arrays (hybrid models) count at their largest."""
    if isinstance(value, list):
        numbers = [v for v in value if isinstance(v, int | float)]
        return int(max(numbers)) if numbers else None
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return int(value)


def _check_context(context: int | None) -> None:
    if context is not None and (not isinstance(context, int) or context <= 0):
        raise ValueError(f"context must be a positive number of tokens, got {context!r}")


def estimate_from_show(
    show: dict[str, Any],
    *,
    size_bytes: int | None,
    context: int | None,
    model: str | None = None,
) -> VramEstimate:
    """Estimate from an ``/api/show`` response (see the module docstring).

    ``size_bytes`` is the model's size from ``/api/tags``, used for the weights when
    the parameter count or quantization is unknown; ``context`` adds a breakdown at
    that many tokens. Raises ``ValueError`` when neither weights source is available.
    """
    _check_context(context)
    info: dict[str, Any] = show.get("model_info") or show.get("modelinfo") or {}
    details: dict[str, Any] = show.get("details") or {}
    arch = info.get("general.architecture") or details.get("family")
    parameter_count = _int(info.get("general.parameter_count"))
    quantization = details.get("quantization_level")
    bpw = bits_per_weight(quantization)
    notes: list[str] = []

    weights_from: Literal["parameters", "blob_size"]
    if parameter_count and bpw:
        weights = parameter_count * bpw / 8
        weights_from = "parameters"
    elif size_bytes:
        weights = size_bytes
        weights_from = "blob_size"
        notes.append("weights taken from the model's size on disk")
    else:
        raise ValueError("cannot estimate weights: no parameter count/quantization or size")

    def key(name: str) -> int | None:
        return _int(info.get(f"{arch}.{name}")) if arch else None

    context_length = key("context_length")
    blocks = key("block_count")
    embedding = key("embedding_length")
    heads = key("attention.head_count")
    heads_kv = key("attention.head_count_kv") or heads
    vocab = key("vocab_size") or 0
    head_dim_k = key("attention.key_length") or (
        embedding // heads if embedding and heads else None
    )
    head_dim_v = key("attention.value_length") or head_dim_k
    kv_known = bool(blocks and heads_kv and head_dim_k and head_dim_v)
    if not kv_known:
        notes.append("model_info lacks attention shapes: KV cache and compute graph omitted")

    def breakdown(tokens: int) -> VramBreakdown:
        kv = graph = 0
        if kv_known:
            assert blocks and heads_kv and head_dim_k and head_dim_v
            kv = tokens * blocks * (head_dim_k + head_dim_v) * heads_kv * KV_BYTES_PER_ELEMENT
        if embedding and heads:
            graph = max(
                4 * GRAPH_BATCH * (1 + 4 * embedding + tokens * (1 + heads)),
                4 * GRAPH_BATCH * (embedding + vocab),
            )
        total = int(weights) + kv + graph + FIXED_OVERHEAD_BYTES
        return VramBreakdown(
            context=tokens,
            weights=VramTerm.of(weights),
            kv_cache=VramTerm.of(kv),
            compute_graph=VramTerm.of(graph),
            overhead=VramTerm.of(FIXED_OVERHEAD_BYTES),
            total=VramTerm.of(total),
            gpu_class=gpu_class(total),
        )

    if context_length is None:
        notes.append(f"model states no context length; using Ollama's default {DEFAULT_CONTEXT}")
    at_model = breakdown(context_length or DEFAULT_CONTEXT)
    at_requested = breakdown(context) if context is not None else None
    headline = at_requested or at_model
    return VramEstimate(
        model=model,
        source="show",
        architecture=arch,
        parameter_count=parameter_count,
        parameter_size=details.get("parameter_size"),
        quantization=quantization,
        bits_per_weight=bpw,
        weights_from=weights_from,
        context_length=context_length,
        block_count=blocks,
        head_count_kv=heads_kv,
        head_dim_k=head_dim_k,
        head_dim_v=head_dim_v,
        at_model_context=at_model,
        at_requested_context=at_requested,
        total=headline.total,
        estimated_vram_gb=headline.total.gib,
        gpu_class=headline.gpu_class,
        notes=notes,
    )


def estimate_from_catalog(name: str, context: int | None) -> VramEstimate | None:
    """The plan's static figure for a catalog model, or None if it lists none."""
    _check_context(context)
    try:
        normalized = normalize_model_name(name)
    except InvalidModelName:
        return None
    found = find_catalog_tag(normalized)
    if found is None:
        return None
    entry, tag = found
    figure = entry.vram_for(tag)
    if figure is None:
        return None
    total = int(figure * GIB)
    resolved = entry.latest_tag if tag == "latest" and entry.latest_tag else tag
    sizes = [s for s in entry.parameter_sizes if s.lower() == resolved.lower()]
    notes = ["static figure from the catalog; the model is not installed"]
    if context is not None:
        notes.append("the catalog figure does not depend on context")
    return VramEstimate(
        model=normalized,
        source="catalog",
        parameter_size=sizes[0] if sizes else None,
        quantization="Q4 (default)",
        weights_from="catalog",
        total=VramTerm.of(total),
        estimated_vram_gb=round(figure, 3),
        gpu_class=gpu_class(total),
        notes=notes,
    )
