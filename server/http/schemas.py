"""Request bodies and query strings, validated with pydantic.

Input accepts camelCase or snake_case; unknown fields are rejected so a typo is a 422
naming the field instead of a silently ignored value. Update bodies are partial: only
the fields a client sent are changed (``model_fields_set``), and ``null`` clears an
optional field.
"""

from __future__ import annotations

import re
from typing import Annotated, Any

from pydantic import (
    AfterValidator,
    AnyHttpUrl,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    TypeAdapter,
    field_validator,
)
from pydantic.alias_generators import to_camel

from server.registry.upstreams import syntax_refusal
from storage.records import ModelStatus, ModelType

Slug = Annotated[
    str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$", strip_whitespace=True)
]
#: Control characters (C0, DEL, C1), line/paragraph separators and the bidirectional
#: embeddings, overrides, isolates and marks that make a name display as another one.
_UNPRINTABLE = re.compile("[\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028-\u202e\u2066-\u2069]")


def _printable(value: str) -> str:
    found = _UNPRINTABLE.search(value)
    if found is not None:
        raise ValueError(
            f"must not contain control or bidirectional-override characters "
            f"(found U+{ord(found.group()):04X} at position {found.start()})"
        )
    return value


Name = Annotated[
    str,
    StringConstraints(min_length=1, max_length=200, strip_whitespace=True),
    AfterValidator(_printable),
]
SdkId = Name
Secret = Annotated[str, StringConstraints(min_length=1, max_length=10_000)]
PositiveInt = Annotated[int, Field(gt=0, le=2**31)]

_http_url: TypeAdapter[AnyHttpUrl] = TypeAdapter(AnyHttpUrl)


def _check_http_url(value: str) -> str:
    """Validate URL syntax but keep the client's spelling (no added trailing slash)."""
    _http_url.validate_python(value)
    return value


HttpUrl = Annotated[
    str, StringConstraints(max_length=2000, strip_whitespace=True), AfterValidator(_check_http_url)
]


def _check_base_url(value: str) -> str:
    refused = syntax_refusal(value)
    if refused is not None:
        raise ValueError(refused)
    return value


#: A provider's base URL: the router appends paths to it, so no query or fragment.
BaseUrl = Annotated[HttpUrl, AfterValidator(_check_base_url)]


class Body(BaseModel):
    model_config = ConfigDict(
        alias_generator=to_camel, populate_by_name=True, extra="forbid", strict=False
    )

    def changes(self) -> dict[str, Any]:
        """The fields the client actually sent, by column (snake_case) name."""
        return {name: getattr(self, name) for name in self.model_fields_set}


class Update(Body):
    """A partial update: omitted fields stay, ``null`` clears the optional ones only."""

    @field_validator(
        "name", "sdk_id", "enabled", "description", "type", "is_default", "status",
        mode="after", check_fields=False,
    )  # fmt: skip
    @classmethod
    def _not_null(cls, value: object) -> object:
        if value is None:
            raise ValueError("may be omitted but not null")
        return value


class ProviderCreate(Body):
    id: Slug | None = None
    name: Name
    sdk_id: SdkId
    base_url: BaseUrl | None = None
    api_key: Secret | None = None
    image_url: Annotated[str, StringConstraints(max_length=2000)] | None = None
    enabled: bool = True


class ProviderUpdate(Update):
    name: Name | None = None
    sdk_id: SdkId | None = None
    base_url: BaseUrl | None = None
    api_key: Secret | None = None
    image_url: Annotated[str, StringConstraints(max_length=2000)] | None = None
    enabled: bool | None = None


class ModelCreate(Body):
    id: Slug | None = None
    name: Name
    description: Annotated[str, StringConstraints(max_length=5000)] = ""
    type: ModelType = "chat"
    provider_id: Slug | None = None
    sdk_id: SdkId | None = None
    context_length: PositiveInt | None = None
    enabled: bool = True
    is_default: bool = False
    status: ModelStatus = "stopped"
    ctx_size: PositiveInt | None = None
    batch_size: PositiveInt | None = None
    threads: Annotated[int, Field(gt=0, le=1024)] | None = None
    model_path: Annotated[str, StringConstraints(max_length=4096)] | None = None
    model_url: HttpUrl | None = None


class ModelUpdate(Update):
    name: Name | None = None
    description: Annotated[str, StringConstraints(max_length=5000)] | None = None
    type: ModelType | None = None
    provider_id: Slug | None = None
    sdk_id: SdkId | None = None
    context_length: PositiveInt | None = None
    enabled: bool | None = None
    is_default: bool | None = None
    status: ModelStatus | None = None
    ctx_size: PositiveInt | None = None
    batch_size: PositiveInt | None = None
    threads: Annotated[int, Field(gt=0, le=1024)] | None = None
    model_path: Annotated[str, StringConstraints(max_length=4096)] | None = None
    model_url: HttpUrl | None = None


class CredentialsPut(Body):
    token: Secret
    cookies: Secret | None = None
    expires_at: Annotated[int, Field(ge=0, le=2**53)] | None = None


class ModelFilter(Body):
    type: ModelType | None = None
    provider_id: Slug | None = None
    enabled: bool | None = None


class RegistryTypeFilter(Body):
    type: ModelType | None = None


class CredentialsPath(Body):
    """``/api/credentials/{provider}``: the provider key follows the id rules."""

    provider: Slug


class DeleteProviderQuery(Body):
    cascade: bool = False
