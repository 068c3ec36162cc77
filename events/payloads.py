"""Payload schemas of every seq-carrying event (SPEC.md "Events"), in both formats.

Payloads are built through these models so a field cannot be misspelt or forgotten;
``seq`` is not a field here because the event log assigns it (``LoggedEvent.payload_json``).
The event log stores the delta form (``ProvidersChanged``, ``ModelsChanged``,
``ProxyStatusCounts``); the full form (``ProvidersUpdated``, ``ModelsUpdated``,
``ProxyStatus``) is built from the in-memory registry (``events.mirror``).
"""

from __future__ import annotations

from typing import Annotated, Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, SkipValidation
from pydantic.alias_generators import to_camel

from events.names import TOPIC_OF, Event

#: Registry rows, already serialised by storage: documented, not validated again.
Rows = Annotated[list[dict[str, Any]], SkipValidation]


class Payload(BaseModel):
    """Base of all payloads: camelCase on the wire, the event name as a class attribute."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True)
    event: ClassVar[Event]
    timestamp: str

    @property
    def topic(self) -> str:
        return TOPIC_OF[self.event].value

    def to_json(self) -> dict[str, Any]:
        """A shallow rename to camelCase: field values are JSON-ready already, and a
        payload lists every registry row, so walking it again would cost per row."""
        data = {
            field.alias or name: getattr(self, name)
            for name, field in type(self).model_fields.items()
        }
        if self.__pydantic_extra__:
            data.update(self.__pydantic_extra__)
        return data


class ProvidersUpdated(Payload):
    event: ClassVar[Event] = Event.PROVIDERS_UPDATED
    action: Literal["created", "updated", "deleted", "enabled", "disabled", "reloaded"]
    provider_id: str | None
    items: Rows
    total: int
    enabled: int


class ModelsUpdated(Payload):
    event: ClassVar[Event] = Event.MODELS_UPDATED
    action: Literal["created", "updated", "deleted", "default", "started", "stopped", "config"]
    model_id: str | None
    items: Rows
    total: int


class CredentialsUpdated(Payload):
    event: ClassVar[Event] = Event.CREDENTIALS_UPDATED
    action: Literal["updated", "deleted"]
    provider: str
    has_credentials: bool
    is_valid: bool
    is_expired: bool
    expires_at: int | None
    created_at: str | None
    updated_at: str | None


class ProcessBlock(BaseModel):
    """One supervised proxy process as ``proxy:status`` shows it."""

    running: bool
    port: int | None
    pid: int | None
    uptime: float
    #: Restarts after crashes since the process was last started on request.
    restarts: int = 0


class ProxyStatus(Payload):
    """Seed 002's payload: process blocks sit at the top level, keyed by process name."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="allow")
    event: ClassVar[Event] = Event.PROXY_STATUS
    status: Literal["running", "stopped", "partial", "starting"]
    providers: dict[str, Any]
    models: dict[str, Any]
    credentials: dict[str, Any]
    message: str


class OllamaUpdated(Payload):
    event: ClassVar[Event] = Event.OLLAMA_UPDATED
    action: Literal["pulled", "deleted"]
    model: str
    models: Rows
    total: int
    total_size: int


class ProvidersChanged(Payload):
    """Delta form of ``providers:updated``: what the write changed, not the whole list."""

    event: ClassVar[Event] = Event.PROVIDERS_UPDATED
    action: Literal["created", "updated", "deleted", "enabled", "disabled", "reloaded"]
    provider_id: str | None
    changed: Rows
    deleted: list[str]
    total: int
    enabled: int


class ModelsChanged(Payload):
    """Delta form of ``models:updated``: set-default lists the new and the previous
    default; a cascading provider delete lists every removed model id in ``deleted``."""

    event: ClassVar[Event] = Event.MODELS_UPDATED
    action: Literal["created", "updated", "deleted", "default", "started", "stopped", "config"]
    model_id: str | None
    changed: Rows
    deleted: list[str]
    total: int


class ProxyStatusCounts(ProxyStatus):
    """Delta form of a broadcast ``proxy:status``: the same fields, but ``providers`` and
    ``models`` carry the counts only, no ``items`` lists."""


class EventsReset(BaseModel):
    """``events:reset``: the log no longer reaches back to the client's ``lastSeq`` (or
    it is ahead of the log): refetch the state. Not logged, no ``seq``."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True)
    oldest_seq: int | None
    current_seq: int
