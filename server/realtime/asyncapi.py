"""The AsyncAPI 3.0 document of the socket interface, generated from the payload models.

Like ``/openapi.json`` for REST, every message schema comes from the pydantic model the
server builds that message with (``events.payloads``) or parses it with (the socket
requests' models), so the document cannot drift from the wire. The document describes
the modeldeck server: broadcasts are operations it *sends*; requests are operations it
*receives*, each with its ack as the ``reply``. Socket.IO specifics (the handshake's
``auth``, rooms as topics, acks) are spelled out in descriptions, AsyncAPI having no
Socket.IO binding.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict
from pydantic.alias_generators import to_camel
from pydantic.json_schema import models_json_schema

from events.names import ALL_TOPICS, TOPIC_OF, Event, Format
from events.payloads import (
    CredentialsUpdated,
    EventsReset,
    ModelsChanged,
    ModelsUpdated,
    OllamaUpdated,
    ProcessBlock,
    ProvidersChanged,
    ProvidersUpdated,
    ProxyStatus,
    ProxyStatusCounts,
)
from server.http.schemas import ModelCreate, ModelFilter
from server.ollama.progress import COMPLETE, ERROR, PROGRESS
from server.realtime.requests import ConfigRef, ConfigWrite, ModelChange, ModelRef


class _Doc(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True)


class Handshake(_Doc):
    """The Socket.IO ``auth`` object sent with CONNECT (socket.io-client: ``auth``)."""

    token: str | None = None
    last_seq: int | None = None
    format: Literal["full", "delta"] = "full"


class Topics(_Doc):
    """``subscribe`` / ``unsubscribe``: acked with the resulting list of topics."""

    topics: list[Literal["providers", "models", "credentials", "proxy", "ollama"]]


class PullRef(_Doc):
    """``pull:subscribe`` / ``pull:unsubscribe`` / ``pull:start``."""

    model: str


class PullJobView(_Doc):
    """A pull job as ``pull:*`` events, their acks and REST show it."""

    id: str
    model: str
    status: Literal["queued", "downloading", "verifying", "completed", "failed", "cancelled"]
    digest: str | None
    total: int
    completed: int
    percent: float
    message: str
    error: str | None
    queue_position: int | None
    bytes_per_second: int | None
    eta_seconds: float | None
    created_at: str
    started_at: str | None
    finished_at: str | None


class ErrorBody(_Doc):
    code: str
    message: str
    details: Any = None


class ErrorReply(_Doc):
    error: ErrorBody


class SocketReply(_Doc):
    """Seed 000's answer, as the ack and as the reply event: ``data`` on success."""

    success: bool
    data: Any
    error: ErrorBody | None = None


_SEQ = {"type": "integer", "description": "grows by one per logged event, across topics"}

#: (message key, event name, model, mode, summary, carries seq)
_MESSAGES: list[tuple[str, str, type[BaseModel], str, str, bool]] = [
    ("providersUpdatedFull", Event.PROVIDERS_UPDATED, ProvidersUpdated, "serialization",
     "Full format: every provider in items (seed 002)", True),
    ("providersUpdatedDelta", Event.PROVIDERS_UPDATED, ProvidersChanged, "serialization",
     "Delta format: the providers the write changed, the ids it deleted", True),
    ("modelsUpdatedFull", Event.MODELS_UPDATED, ModelsUpdated, "serialization",
     "Full format: every model in items (seed 002)", True),
    ("modelsUpdatedDelta", Event.MODELS_UPDATED, ModelsChanged, "serialization",
     "Delta format: the models the write changed (set-default: new and previous default),"
     " the ids it deleted (a cascading provider delete: every removed model)", True),
    ("proxyStatusFull", Event.PROXY_STATUS, ProxyStatus, "serialization",
     "Full-format broadcast, and the greeting sent at connect in both formats: the full"
     " lists and the seq they reflect", True),
    ("proxyStatusDelta", Event.PROXY_STATUS, ProxyStatusCounts, "serialization",
     "Delta-format broadcast: counts, no items", True),
    ("credentialsUpdated", Event.CREDENTIALS_UPDATED, CredentialsUpdated, "serialization",
     "Same in both formats", True),
    ("ollamaUpdated", Event.OLLAMA_UPDATED, OllamaUpdated, "serialization",
     "Same in both formats", True),
    ("eventsReset", Event.EVENTS_RESET, EventsReset, "serialization",
     "lastSeq is out of the log's reach: refetch (then the greeting follows)", False),
    ("pullProgress", PROGRESS, PullJobView, "serialization",
     "Coalesced (~10/s per job); every status change is delivered", False),
    ("pullComplete", COMPLETE, PullJobView, "serialization", "The job completed", False),
    ("pullError", ERROR, PullJobView, "serialization", "The job failed or was cancelled", False),
]  # fmt: skip

#: (request event, model, reply event or None, summary)
_REQUESTS: list[tuple[str, type[BaseModel], str | None, str]] = [
    ("subscribe", Topics, None, "Join topics (in this connection's format); ack: the topics"),
    ("unsubscribe", Topics, None, "Leave topics; ack: the remaining topics"),
    ("save_model", ModelCreate, "model_saved", "Create a model, as POST /api/models"),
    ("update_model", ModelChange, "model_updated", "Update a model, as PATCH /api/models/{id}"),
    ("delete_model", ModelRef, "model_deleted", "Delete a model"),
    ("load_config", ConfigRef, "config_loaded", "Read one config section of a model"),
    ("save_config", ConfigWrite, "config_saved", "Write one config section of a model"),
    ("models:list", ModelFilter, None, "The models, as GET /api/models; ack only"),
    ("pull:subscribe", PullRef, None, "Follow a model's pulls; ack: its job or last job"),
    ("pull:unsubscribe", PullRef, None, "Stop following a model's pulls"),
    ("pull:start", PullRef, None, "Start (or join) a pull; ack: the job"),
]


def _key(event: str) -> str:
    parts = event.replace(":", "_").split("_")
    return parts[0] + "".join(p.title() for p in parts[1:])


def build_asyncapi(*, version: str, token_required: bool) -> dict[str, Any]:
    """The whole document; cheap enough to build per request (a few dozen schemas)."""
    inputs = [(m, mode) for _, _, m, mode, _, _ in _MESSAGES]
    inputs += [(m, "validation") for _, m, _, _ in _REQUESTS]
    inputs += [(SocketReply, "serialization"), (ErrorReply, "serialization")]
    inputs += [(Handshake, "validation"), (ProcessBlock, "serialization")]
    keyed, defs = models_json_schema(
        list(dict.fromkeys(inputs)),  # type: ignore[arg-type]
        by_alias=True,
        ref_template="#/components/schemas/{model}",
    )
    schemas: dict[str, Any] = dict(defs.get("$defs", {}))
    messages: dict[str, Any] = {}
    for key, event, model, mode, summary, with_seq in _MESSAGES:
        payload = keyed[(model, mode)]  # type: ignore[index]
        if with_seq:
            payload = {"allOf": [payload, {"type": "object", "required": ["seq"],
                                            "properties": {"seq": _SEQ}}]}  # fmt: skip
        messages[key] = {"name": event, "title": event, "summary": summary, "payload": payload}
    for name in ("ProxyStatus", "ProxyStatusCounts"):  # process blocks, keyed by name
        schemas[name]["additionalProperties"] = {"$ref": "#/components/schemas/ProcessBlock"}

    channels: dict[str, Any] = {}
    operations: dict[str, Any] = {}
    by_event: dict[str, list[str]] = {}
    for key, event, *_ in _MESSAGES:
        by_event.setdefault(event, []).append(key)
    for topic in ALL_TOPICS:
        keys = [k for k, e, *_ in _MESSAGES if _topic_of(e) == topic]
        channels[topic] = {
            "address": f"topic:{topic}",
            "title": f"The {topic} topic",
            "description": (
                f"Room `topic:{topic}` (full format) or `topic:{topic}:{Format.DELTA}`"
                " (delta format); a new client joins every topic of its format."
            ),
            "messages": {k: {"$ref": f"#/components/messages/{k}"} for k in keys},
        }
        operations[f"broadcast_{topic}"] = {
            "action": "send",
            "channel": {"$ref": f"#/channels/{topic}"},
            "summary": f"Every committed write's {topic} event, in seq order",
            "messages": [{"$ref": f"#/channels/{topic}/messages/{k}"} for k in keys],
        }
    channels["client"] = {
        "address": None,
        "title": "One connection",
        "description": "Sent to one client: the catch-up (events:reset) and the replies.",
        "messages": {"eventsReset": {"$ref": "#/components/messages/eventsReset"}},
    }
    operations["reset"] = {
        "action": "send",
        "channel": {"$ref": "#/channels/client"},
        "summary": "Instead of a replay, when auth.lastSeq is out of the log's reach",
        "messages": [{"$ref": "#/channels/client/messages/eventsReset"}],
    }
    channels["pull"] = {
        "address": "pull:{model}",
        "title": "One model's pulls",
        "parameters": {"model": {"description": "the model name with its tag"}},
        "messages": {
            k: {"$ref": f"#/components/messages/{k}"}
            for k in ("pullProgress", "pullComplete", "pullError")
        },
    }
    operations["pull_progress"] = {
        "action": "send",
        "channel": {"$ref": "#/channels/pull"},
        "summary": "Progress, then exactly one of pull:complete or pull:error",
        "messages": [
            {"$ref": f"#/channels/pull/messages/{k}"}
            for k in ("pullProgress", "pullComplete", "pullError")
        ],
    }
    for event, model, reply_event, summary in _REQUESTS:
        key = _key(event)
        ack_key = f"{key}Ack"
        ack_schema: dict[str, Any]
        if reply_event is not None:
            ack_schema = {"$ref": "#/components/schemas/SocketReply"}
        elif event.startswith("pull:"):
            ack_schema = {"anyOf": [{"$ref": "#/components/schemas/PullJobView"},
                                    {"type": "object"}, {"type": "null"},
                                    {"$ref": "#/components/schemas/ErrorReply"}]}  # fmt: skip
        elif event == "models:list":
            ack_schema = {"anyOf": [{"type": "array", "items": {"type": "object"}},
                                    {"$ref": "#/components/schemas/SocketReply"}]}  # fmt: skip
        else:
            ack_schema = {"anyOf": [{"type": "array", "items": {"type": "string"}},
                                    {"$ref": "#/components/schemas/ErrorReply"}]}  # fmt: skip
        messages[key] = {
            "name": event,
            "title": event,
            "summary": summary,
            "payload": keyed[(model, "validation")],
        }
        messages[ack_key] = {
            "name": f"{event} ack",
            "title": f"{event} ack",
            "summary": "The Socket.IO acknowledgement",
            "payload": ack_schema,
        }
        channel_messages = {
            key: {"$ref": f"#/components/messages/{key}"},
            ack_key: {"$ref": f"#/components/messages/{ack_key}"},
        }
        if reply_event is not None:
            reply_key = _key(reply_event)
            messages[reply_key] = {
                "name": reply_event,
                "title": reply_event,
                "summary": f"The answer to {event}, also sent as an event (seed 000)",
                "payload": {"$ref": "#/components/schemas/SocketReply"},
            }
            channel_messages[reply_key] = {"$ref": f"#/components/messages/{reply_key}"}
        channels[f"request_{key}"] = {
            "address": None,
            "title": f"The {event} request",
            "messages": channel_messages,
        }
        replies = [{"$ref": f"#/channels/request_{key}/messages/{ack_key}"}]
        if reply_event is not None:
            replies.append({"$ref": f"#/channels/request_{key}/messages/{_key(reply_event)}"})
        operations[f"request_{key}"] = {
            "action": "receive",
            "channel": {"$ref": f"#/channels/request_{key}"},
            "summary": summary,
            "messages": [{"$ref": f"#/channels/request_{key}/messages/{key}"}],
            "reply": {"channel": {"$ref": f"#/channels/request_{key}"}, "messages": replies},
        }

    auth = " Every connection needs `auth.token` (refused otherwise)." if token_required else ""
    return {
        "asyncapi": "3.0.0",
        "info": {
            "title": "modeldeck socket interface",
            "version": version,
            "description": (
                "Socket.IO 4, default namespace. The handshake's `auth` is a `Handshake`:"
                " `format` picks the event format (`full`, the default: registry events"
                " list every item; `delta`: they carry `changed` and `deleted`), `lastSeq`"
                " replays what was missed (in order, then the greeting, then live events)."
                " The greeting `proxy:status` lists everything, with the `seq` it reflects,"
                " in both formats; greeting + every later delta applied in seq order equals"
                " GET /api/providers and GET /api/models." + auth
            ),
        },
        "servers": {
            "local": {
                "host": "127.0.0.1:3002",
                "protocol": "ws",
                "pathname": "/socket.io/",
                "description": "Socket.IO over websocket (or HTTP long-polling, then upgrade)",
            }
        },
        "defaultContentType": "application/json",
        "channels": channels,
        "operations": operations,
        "components": {"schemas": schemas, "messages": messages},
    }


def _topic_of(event: str) -> str | None:
    try:
        return TOPIC_OF[Event(event)].value
    except (KeyError, ValueError):
        return None


def documented_events(document: dict[str, Any]) -> set[str]:
    """Every event name the document has a message for."""
    return {m["name"] for m in document["components"]["messages"].values()}
