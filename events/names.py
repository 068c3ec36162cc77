"""Event names and the topics (socket rooms) they are delivered to."""

from __future__ import annotations

from enum import StrEnum


class Topic(StrEnum):
    PROVIDERS = "providers"
    MODELS = "models"
    CREDENTIALS = "credentials"
    PROXY = "proxy"
    OLLAMA = "ollama"


class Event(StrEnum):
    PROVIDERS_UPDATED = "providers:updated"
    MODELS_UPDATED = "models:updated"
    CREDENTIALS_UPDATED = "credentials:updated"
    PROXY_STATUS = "proxy:status"
    OLLAMA_UPDATED = "ollama:updated"
    EVENTS_RESET = "events:reset"


TOPIC_OF: dict[Event, Topic] = {
    Event.PROVIDERS_UPDATED: Topic.PROVIDERS,
    Event.MODELS_UPDATED: Topic.MODELS,
    Event.CREDENTIALS_UPDATED: Topic.CREDENTIALS,
    Event.PROXY_STATUS: Topic.PROXY,
    Event.OLLAMA_UPDATED: Topic.OLLAMA,
}

ALL_TOPICS: tuple[str, ...] = tuple(topic.value for topic in Topic)


class Format(StrEnum):
    """How a connection wants registry events: whole lists (seed 002) or changes only."""

    FULL = "full"
    DELTA = "delta"


#: Events whose delta form differs from the full form; the others are sent alike.
REGISTRY_EVENTS: frozenset[str] = frozenset(
    {Event.PROVIDERS_UPDATED, Event.MODELS_UPDATED, Event.PROXY_STATUS}
)


def topic_room(topic: str, fmt: str = Format.FULL) -> str:
    """The socket.io room whose members receive ``topic`` in format ``fmt``."""
    return f"topic:{topic}" if fmt == Format.FULL else f"topic:{topic}:{fmt}"
