"""Typed rows as the rest of modeldeck sees them.

Records serialise straight to the public JSON shape (camelCase keys), and hold no
secret: a provider exposes ``hasApiKey`` and a masked ``apiKeyHint`` only. They are
plain slotted dataclasses, not pydantic models: rows are trusted (the schema's CHECKs
already hold) and every write's payload lists every row, so building and serialising
a record must stay a matter of microseconds.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass, fields
from typing import Any, ClassVar, Literal

from pydantic import ConfigDict
from pydantic.alias_generators import to_camel

ModelType = Literal["chat", "image", "speech", "embedding"]
ModelStatus = Literal["stopped", "starting", "running", "stopping", "error"]
ConfigSection = Literal["sampling", "memory", "gpu", "advanced", "lora", "multimodal"]


class Record:
    """Mixin: ``to_json`` renames fields to camelCase (computed once per class).

    ``__pydantic_config__`` lets pydantic read the same fields, renamed the same way,
    as the JSON Schema that ``/openapi.json`` documents for these bodies.
    """

    __slots__ = ()
    __pydantic_config__: ClassVar[ConfigDict] = ConfigDict(alias_generator=to_camel, extra="forbid")
    _keys: ClassVar[tuple[tuple[str, str], ...]]

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        cls._keys = ()

    def to_json(self) -> dict[str, Any]:
        keys = type(self)._keys
        if not keys:
            keys = type(self)._keys = tuple(
                (f.name, to_camel(f.name))
                for f in fields(self)  # type: ignore[arg-type]
            )
        return {key: getattr(self, name) for name, key in keys}


@dataclass(frozen=True, slots=True)
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
            row["id"], row["name"], row["sdk_id"], row["base_url"], row["image_url"],
            bool(row["enabled"]), row["api_key_enc"] is not None, row["api_key_hint"],
            row["created_at"], row["updated_at"],
        )  # fmt: skip


@dataclass(frozen=True, slots=True)
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
        """From a row whose columns are in this class's field order (see storage.models)."""
        values = list(row)
        values[7] = bool(values[7])  # enabled
        values[8] = bool(values[8])  # is_default
        return cls(*values)


@dataclass(frozen=True, slots=True)
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
    """One row of the event log: ``body`` is the payload's JSON as stored, without ``seq``.

    The payload is encoded once, in the write's transaction; broadcasts, catch-ups and
    ``/api/events`` splice ``seq`` into those bytes instead of parsing and re-encoding.
    """

    seq: int
    event: str
    topic: str
    body: bytes
    #: A registry event's objects before it, ``{id: object | null}`` as JSON; not sent.
    prior: bytes | None = None

    def payload_json(self) -> bytes:
        """The payload as sent: ``body`` with ``"seq"`` added as its last key."""
        if self.body == b"{}":
            return b'{"seq":%d}' % self.seq
        return self.body[:-1] + b',"seq":%d}' % self.seq
