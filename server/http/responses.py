"""Success bodies of the REST routes, as pydantic models.

Each route names its response type in its ``RouteTable`` declaration; ``/openapi.json``
documents exactly that type, and the handler serialises through it (``json_response``
dumps a model; the registry records are dataclasses whose schema pydantic reads from
the same fields ``to_json`` writes), so the document cannot drift from the bodies.
Models are closed (``additionalProperties: false``) unless a body carries open data on
purpose (Ollama's own metadata, config sections, event payloads).
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel

from events.payloads import ProcessBlock
from server.ollama.vram import VramEstimate
from server.registry.config_sections import Advanced, Gpu, Lora, Memory, Multimodal, Sampling
from storage.records import ConfigSection, CredentialRecord, ModelRecord, ProviderRecord

__all__ = [
    "CredentialRecord",
    "ModelRecord",
    "ProviderRecord",
    "VramEstimate",
]

PullStatus = Literal["queued", "downloading", "verifying", "completed", "failed", "cancelled"]


class Reply(BaseModel):
    """A closed JSON object with camelCase keys."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="forbid")


class OpenReply(Reply):
    """An object whose listed fields are always there, plus data modeldeck passes through."""

    model_config = ConfigDict(extra="allow")


# -- system ----------------------------------------------------------------------------


class ProcessView(Reply):
    """Which of the processes sharing the database answered, and how far it delivered."""

    id: str
    name: str
    pid: int
    delivered_seq: int
    supervises_proxies: bool


class Health(Reply):
    status: Literal["ok", "degraded"]
    #: "ok", or what is wrong with the database in words (disk full, file deleted, …)
    db: str
    ollama: Literal["up", "down", "unknown"]
    version: str
    uptime_seconds: float
    clients: int
    process: ProcessView


class ProvidersSummary(Reply):
    items: list[ProviderRecord]
    total: int
    enabled: int


class ModelsSummary(Reply):
    items: list[ModelRecord]
    total: int


class ProxyCredentials(Reply):
    valid: bool
    expires_at: int | None
    has_credentials: bool
    is_expired: bool


class ProxyStatusView(Reply):
    """Seed 002's payload: one block per supervised process, keyed by its name."""

    model_config = ConfigDict(extra="allow")
    __pydantic_extra__: dict[str, ProcessBlock] = Field(init=False)
    status: Literal["running", "stopped", "partial", "starting"]
    providers: ProvidersSummary
    models: ModelsSummary
    credentials: ProxyCredentials
    message: str
    timestamp: str
    seq: int


class ProcessLog(Reply):
    name: str
    file: str
    lines: list[str]


# -- registry --------------------------------------------------------------------------


class ProviderDeleted(Reply):
    id: str
    deleted: Literal[True]
    deleted_models: list[str]


class ModelDeleted(Reply):
    id: str
    deleted: Literal[True]


SectionConfig = Sampling | Memory | Gpu | Advanced | Lora | Multimodal


class ConfigView(Reply):
    """One config section: ``type`` is the section, ``config`` what is stored for it."""

    id: str
    type: ConfigSection
    config: SectionConfig


class RegistryProvider(Reply):
    id: str
    name: str
    sdk_id: str
    base_url: str | None
    image_url: str | None
    enabled: bool
    has_api_key: bool
    api_key_hint: str | None
    created_at: str
    updated_at: str
    models: list[ModelRecord]


class ModelRegistry(Reply):
    providers: list[RegistryProvider]
    default_model_id: str | None
    defaults: dict[str, str]


class V1TextModel(Reply):
    """A chat, speech or embedding model in seed 004's format."""

    id: str
    name: str
    description: str
    context_length: int | None


class V1ImageModel(Reply):
    """An image model in seed 004's format: its provider's name instead of a context."""

    id: str
    name: str
    description: str
    provider: str | None


V1Model = V1TextModel | V1ImageModel


class LoggedEventView(Reply):
    seq: int
    event: str
    data: dict[str, Any]


# -- Ollama ----------------------------------------------------------------------------


class OllamaStatus(Reply):
    available: bool
    version: str | None
    url: str
    error: str | None
    pulls: dict[str, int]


class InstalledModel(Reply):
    name: str
    model: str
    tag: str
    size: int
    digest: str | None
    modified_at: str | None
    details: dict[str, Any]


class InstalledModels(Reply):
    models: list[InstalledModel]
    total: int
    total_size: int


class OllamaModelDeleted(InstalledModels):
    model: str
    deleted: Literal[True]


class OllamaModelDetails(OpenReply):
    """``/api/show`` in camelCase: the fields below, plus Ollama's ``details`` keys."""

    name: str
    model: str
    size: int | None
    digest: str | None
    modified_at: str | None
    architecture: str | None
    parameter_count: int | None
    context_length: int | None
    capabilities: list[str]
    modelfile: str | None
    parameters: str | None
    template: str | None
    system: str | None
    license: str | None
    model_info: dict[str, Any]


class CatalogTag(Reply):
    tag: str
    model: str
    installed: bool | None
    recommended: bool
    vram_gb: float | None


class CatalogEntry(Reply):
    name: str
    description: str
    category: str
    parameter_sizes: list[str]
    recommended_tag: str
    vram_gb: dict[str, float]
    tags: list[CatalogTag]
    installed: bool | None


class PullJob(Reply):
    id: str
    model: str
    status: PullStatus
    digest: str | None
    total: Annotated[int, Field(ge=0)]
    completed: Annotated[int, Field(ge=0)]
    percent: Annotated[float, Field(ge=0, le=100)]
    message: str
    error: str | None
    queue_position: int | None
    bytes_per_second: int | None
    eta_seconds: float | None
    created_at: str
    started_at: str | None
    finished_at: str | None


class PullJobs(Reply):
    jobs: list[PullJob]
    total: int
