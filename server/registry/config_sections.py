"""Per-model config sections (seed 000): known fields range-checked, extra keys kept.

A section is one JSON object per (model, section). The fields inference runtimes agree
on are validated so that an out-of-range value is a 422 naming it; anything else a
client stores is kept as given, because runtimes grow options faster than this list.
"""

from __future__ import annotations

from typing import Annotated, Any

import orjson
from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel

from server.errors import PayloadTooLarge, ResourceNotFound
from server.http.json_limits import check_depth
from server.http.schemas import INTEGRAL

MAX_CONFIG_BYTES = 64 * 1024
#: Integers are stored as JSON: bounded to what every JSON reader holds exactly as int64.
I64 = 2**63 - 1


class Section(BaseModel):
    """Strict like request bodies (``server.schemas``): ``"mlock": "true"`` is refused."""

    model_config = ConfigDict(
        alias_generator=to_camel, populate_by_name=True, extra="allow", strict=True
    )


class Sampling(Section):
    temperature: Annotated[float, Field(ge=0, le=2)] | None = None
    top_p: Annotated[float, Field(ge=0, le=1)] | None = None
    top_k: Annotated[int, Field(ge=0, le=I64), INTEGRAL] | None = None
    min_p: Annotated[float, Field(ge=0, le=1)] | None = None
    repeat_penalty: Annotated[float, Field(gt=0, le=10)] | None = None
    presence_penalty: Annotated[float, Field(ge=-2, le=2)] | None = None
    frequency_penalty: Annotated[float, Field(ge=-2, le=2)] | None = None
    seed: Annotated[int, Field(ge=-I64, le=I64), INTEGRAL] | None = None
    max_tokens: Annotated[int, Field(gt=0, le=I64), INTEGRAL] | None = None


class Memory(Section):
    ctx_size: Annotated[int, Field(gt=0, le=I64), INTEGRAL] | None = None
    batch_size: Annotated[int, Field(gt=0, le=I64), INTEGRAL] | None = None
    ubatch_size: Annotated[int, Field(gt=0, le=I64), INTEGRAL] | None = None
    mlock: bool | None = None
    mmap: bool | None = None


class Gpu(Section):
    n_gpu_layers: Annotated[int, Field(ge=-1, le=I64), INTEGRAL] | None = None
    main_gpu: Annotated[int, Field(ge=0, le=I64), INTEGRAL] | None = None
    tensor_split: list[Annotated[float, Field(ge=0)]] | None = None
    flash_attn: bool | None = None


class Advanced(Section):
    threads: Annotated[int, Field(gt=0, le=I64), INTEGRAL] | None = None
    rope_freq_base: Annotated[float, Field(gt=0)] | None = None
    rope_freq_scale: Annotated[float, Field(gt=0)] | None = None


class Lora(Section):
    adapters: list[dict[str, Any]] | None = None
    scale: Annotated[float, Field(ge=0)] | None = None


class Multimodal(Section):
    mmproj_path: str | None = None
    image_max_tokens: Annotated[int, Field(gt=0, le=I64), INTEGRAL] | None = None


SECTIONS: dict[str, type[Section]] = {
    "sampling": Sampling,
    "memory": Memory,
    "gpu": Gpu,
    "advanced": Advanced,
    "lora": Lora,
    "multimodal": Multimodal,
}


def validate_section(section: str, config: dict[str, Any]) -> dict[str, Any]:
    """Validate ``config`` for ``section``; known fields come back camelCase, extras as given.

    Raises pydantic's ValidationError or ValidationFailed (both a 422) or PayloadTooLarge.
    The depth check comes first: it also guards socket requests, which skip ``read_json``.
    """
    check_depth(config, field="config")
    if len(orjson.dumps(config)) > MAX_CONFIG_BYTES:
        raise PayloadTooLarge(f"config: larger than {MAX_CONFIG_BYTES} bytes")
    parsed = SECTIONS[section].model_validate(config)
    return parsed.model_dump(mode="json", by_alias=True, exclude_unset=True)


def require_section(name: str) -> str:
    """The section a request names; an unknown one is a 404 naming the known ones."""
    if name not in SECTIONS:
        raise ResourceNotFound(
            f"section: unknown config section '{name}' (known: {', '.join(SECTIONS)})",
            details={"field": "section"},
        )
    return name
