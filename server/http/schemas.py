"""Request bodies and query strings, validated with pydantic.

Input accepts camelCase or snake_case; unknown fields are rejected so a typo is a 422
naming the field instead of a silently ignored value. Update bodies are partial: only
the fields a client sent are changed (``model_fields_set``), and ``null`` clears an
optional field.

Bodies are strict (a boolean is ``true``/``false``, a number is a JSON number, never a
string or ``0``), so the JSON Schema in ``/openapi.json`` is exactly what is accepted.
Query strings are text by nature: ``Query`` models convert numbers, and booleans accept
only ``true``/``false``.
"""

from __future__ import annotations

import re
from typing import Annotated, Any

from pydantic import (
    AfterValidator,
    AnyHttpUrl,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StringConstraints,
    TypeAdapter,
    field_validator,
)
from pydantic.alias_generators import to_camel
from pydantic_core import PydanticCustomError

from server.registry.upstreams import syntax_refusal
from storage.records import ModelStatus, ModelType

#: What pydantic's ``strip_whitespace`` removes (Unicode White_Space), spelt out for the
#: JSON Schema patterns: their ``\s`` is not quite the same set.
WHITESPACE = r"\t\n\x0b\x0c\r \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000"
#: Python's ``str.strip()`` also removes \x1c-\x1f (Ollama names are stripped by Python).
PY_WHITESPACE = WHITESPACE + r"\x1c-\x1f"
#: Some character that stripping keeps: the documented form of "not blank".
NOT_BLANK = f"[^{WHITESPACE}]"

Slug = Annotated[
    str,
    StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$", strip_whitespace=True),
    # documented as sent: the whitespace around it is stripped before the check
    Field(
        json_schema_extra={
            "pattern": f"^[{WHITESPACE}]*[A-Za-z0-9][A-Za-z0-9._:-]{{0,127}}[{WHITESPACE}]*$"
        }
    ),
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


_UNPRINTABLE_CLASS = r"\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028-\u202e\u2066-\u2069"
_INNER = f"[^{_UNPRINTABLE_CLASS}]"
_EDGE = f"[^{_UNPRINTABLE_CLASS}{WHITESPACE}]"
#: What a name may be, documented as sent: whitespace around it (stripped), then printable
#: characters that start and end with something other than whitespace.
NAME_PATTERN = f"^[{WHITESPACE}]*{_EDGE}(?:{_INNER}*{_EDGE})?[{WHITESPACE}]*$"

Name = Annotated[
    str,
    StringConstraints(min_length=1, max_length=200, strip_whitespace=True, pattern=NOT_BLANK),
    AfterValidator(_printable),
    Field(json_schema_extra={"pattern": NAME_PATTERN}),
]
SdkId = Name


Secret = Annotated[str, StringConstraints(min_length=1, max_length=10_000)]


def _integral(value: object) -> object:
    """JSON Schema's ``integer`` includes ``2.0``: accept a float with no fraction as the
    int it is (strict mode alone would refuse it); ``true`` stays refused."""
    if isinstance(value, float) and value.is_integer() and abs(value) < 2**63:
        return int(value)
    return value


#: Marks an ``int`` as a JSON integer: ``5`` or ``5.0``, never ``"5"`` or ``true``. It goes
#: after the field's constraints, so they still show in the JSON Schema.
INTEGRAL = BeforeValidator(_integral)
PositiveInt = Annotated[int, Field(gt=0, le=2**31), INTEGRAL]

_http_url: TypeAdapter[AnyHttpUrl] = TypeAdapter(AnyHttpUrl)


def _check_http_url(value: str) -> str:
    """Validate URL syntax but keep the client's spelling (no added trailing slash).

    The documented pattern is checked here rather than as a string constraint, so a
    refused URL is answered in words, not with the pattern's regular expression."""
    if _HTTP_URL.match(value) is None:
        raise ValueError(
            "must be a valid URL: http(s)://host[:port][/path], the host a domain name, "
            "an IPv4 address or an [IPv6] address (e.g. https://api.example.com/v1)"
        )
    _http_url.validate_python(value)
    return value


# Hyphens only between letters and digits (no "--", so no "xn--" label to decode).
_LABEL = r"[A-Za-z0-9]+(?:-[A-Za-z0-9]+)*"
_OCTET = r"(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])"
_PORT = r"(?:6553[0-5]|655[0-2][0-9]|65[0-4][0-9]{2}|6[0-4][0-9]{3}|[1-5][0-9]{4}|[0-9]{1,4})"
_PCHAR = r"(?:[A-Za-z0-9._~!$&'()*+,;=:@-]|%[0-9A-Fa-f]{2})"
_H16 = r"[0-9A-Fa-f]{1,4}"
_LS32 = rf"(?:{_H16}:{_H16}|{_OCTET}(?:\.{_OCTET}){{3}})"
#: RFC 3986's IPv6address, so every address the pattern admits also parses.
_IPV6 = (
    rf"(?:(?:{_H16}:){{6}}{_LS32}|::(?:{_H16}:){{5}}{_LS32}|(?:{_H16})?::(?:{_H16}:){{4}}{_LS32}"
    rf"|(?:(?:{_H16}:){{0,1}}{_H16})?::(?:{_H16}:){{3}}{_LS32}"
    rf"|(?:(?:{_H16}:){{0,2}}{_H16})?::(?:{_H16}:){{2}}{_LS32}"
    rf"|(?:(?:{_H16}:){{0,3}}{_H16})?::{_H16}:{_LS32}|(?:(?:{_H16}:){{0,4}}{_H16})?::{_LS32}"
    rf"|(?:(?:{_H16}:){{0,5}}{_H16})?::{_H16}|(?:(?:{_H16}:){{0,6}}{_H16})?::)"
)
#: An http(s) URL as RFC 3986 spells one (so ``format: uri`` holds) whose host is a domain
#: name (its last label starting with a letter, else it would read as an IPv4 address),
#: an IPv4 address or a bracketed IPv6 one. The server checks this pattern and then
#: parses the URL, so the document and the server accept the same URLs.
HTTP_URL_PATTERN = (
    r"^[Hh][Tt][Tt][Pp][Ss]?://"
    rf"(?:(?:{_LABEL}\.)*[A-Za-z][A-Za-z0-9]*(?:-[A-Za-z0-9]+)*|{_OCTET}(?:\.{_OCTET}){{3}}"
    rf"|\[{_IPV6}\])"
    rf"(?::{_PORT})?(?:/(?:{_PCHAR}|/)*)?(?:\?(?:{_PCHAR}|[/?])*)?(?:#(?:{_PCHAR}|[/?])*)?$"
)

_HTTP_URL = re.compile(HTTP_URL_PATTERN)

HttpUrl = Annotated[
    str,
    StringConstraints(max_length=2000),
    AfterValidator(_check_http_url),
    Field(json_schema_extra={"format": "uri", "pattern": HTTP_URL_PATTERN}),
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
        alias_generator=to_camel, populate_by_name=True, extra="forbid", strict=True
    )

    def changes(self) -> dict[str, Any]:
        """The fields the client actually sent, by column (snake_case) name."""
        return {name: getattr(self, name) for name in self.model_fields_set}


def _query_flag(value: object) -> object:
    """``true``/``false`` in a query string; pydantic's lax ``yes``/``on``/``1`` are not
    in the documented schema, so they are refused like any other wrong value."""
    if isinstance(value, str):
        if value not in ("true", "false"):
            raise PydanticCustomError("bool_parsing", "must be true or false")
        return value == "true"
    return value


#: A boolean query parameter.
Flag = Annotated[bool, BeforeValidator(_query_flag)]


class Query(Body):
    """A query string: values arrive as text, so numbers are converted from it."""

    model_config = ConfigDict(strict=False)


#: Update fields that may be omitted but not cleared.
NOT_NULL = ("name", "sdk_id", "enabled", "description", "type", "is_default", "status")


def _not_nullable(schema: dict[str, Any], model: type[BaseModel]) -> None:
    """Document the NOT_NULL fields without the ``null`` their Python type allows."""
    for name in NOT_NULL:
        field = model.model_fields.get(name)
        prop = schema.get("properties", {}).get(field.alias or name) if field else None
        if prop is None or "anyOf" not in prop:
            continue
        branches = [b for b in prop.pop("anyOf") if b != {"type": "null"}]
        prop.pop("default", None)
        if len(branches) == 1:
            prop.update(branches[0])
        else:
            prop["anyOf"] = branches


class Update(Body):
    """A partial update: omitted fields stay, ``null`` clears the optional ones only."""

    model_config = ConfigDict(json_schema_extra=_not_nullable)

    @field_validator(*NOT_NULL, mode="after", check_fields=False)
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
    threads: Annotated[int, Field(gt=0, le=1024), INTEGRAL] | None = None
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
    threads: Annotated[int, Field(gt=0, le=1024), INTEGRAL] | None = None
    model_path: Annotated[str, StringConstraints(max_length=4096)] | None = None
    model_url: HttpUrl | None = None


class CredentialsPut(Body):
    token: Secret
    cookies: Secret | None = None
    expires_at: Annotated[int, Field(ge=0, le=2**53), INTEGRAL] | None = None


class ModelFilter(Query):
    type: ModelType | None = None
    provider_id: Slug | None = None
    enabled: Flag | None = None


class RegistryTypeFilter(Query):
    type: ModelType | None = None


class CredentialsPath(Body):
    """``/api/credentials/{provider}``: the provider key follows the id rules."""

    provider: Slug


class DeleteProviderQuery(Query):
    cascade: Flag = False
