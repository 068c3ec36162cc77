"""Typed rows as the rest of modeldeck sees them.

Records serialise straight to the public JSON shape (camelCase via aliases), and hold
no secret: a provider exposes ``hasApiKey`` and a masked ``apiKeyHint`` only.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict
from pydantic.alias_generators import to_camel

ModelType = Literal["chat", "image", "speech", "embedding"]
ModelStatus = Literal["stopped", "starting", "running", "stopping", "error"]
ConfigSection = Literal["sampling", "memory", "gpu", "advanced", "lora", "multimodal"]


class Record(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, frozen=True)

    def to_json(self) -> dict[str, Any]:
        return self.model_dump(mode="json", by_alias=True)


class ProviderRecord(Record):
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

    @classmethod
    def from_row(cls, row: sqlite3.Row) -> ProviderRecord:
        return cls(
            id=row["id"],
            name=row["name"],
            sdk_id=row["sdk_id"],
            base_url=row["base_url"],
            image_url=row["image_url"],
            enabled=bool(row["enabled"]),
            has_api_key=row["api_key_enc"] is not None,
            api_key_hint=row["api_key_hint"],
            created_at=row["created_at"],
            updated_at=row["updated_at"],
        )


class ModelRecord(Record):
    id: str
    name: str
    description: str
    type: ModelType
    provider_id: str | None
    sdk_id: str | None
    context_length: int | None
    enabled: bool
    is_default: bool
    status: ModelStatus
    ctx_size: int | None
    batch_size: int | None
    threads: int | None
    model_path: str | None
    model_url: str | None
    created_at: str
    updated_at: str

    @classmethod
    def from_row(cls, row: sqlite3.Row) -> ModelRecord:
        data = dict(row)
        data["enabled"] = bool(data["enabled"])
        data["is_default"] = bool(data["is_default"])
        return cls(**data)


class CredentialRecord(Record):
    """The status view of one provider's credentials (never the token itself)."""

    provider: str
    has_credentials: bool
    is_valid: bool
    is_expired: bool
    expires_at: int | None
    created_at: str | None
    updated_at: str | None


@dataclass(frozen=True, slots=True)
class LoggedEvent:
    """One row of the event log: ``data`` is the payload without its ``seq``."""

    seq: int
    event: str
    topic: str
    data: dict[str, Any]

    def payload(self) -> dict[str, Any]:
        return {**self.data, "seq": self.seq}
