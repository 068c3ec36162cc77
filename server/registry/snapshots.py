"""Builders for the payloads that summarise the registry, and the mirror's first load.

A write never reads the whole registry: its ``proxy:status`` carries counts (two
``COUNT`` queries) and the credentials summary; the lists live in the in-memory
``RegistryMirror``, loaded here once at start-up.
"""

from __future__ import annotations

from typing import Any, NamedTuple

from events.mirror import RegistryMirror
from events.payloads import ModelsChanged, Payload, ProvidersChanged, ProxyStatusCounts
from server.registry.proxy_state import ProxySnapshot
from storage import credentials, event_log, models, providers
from storage.counts import registry_counts
from storage.database import Database, Transaction
from storage.records import ModelRecord, ProviderRecord

ReadHandle = Database | Transaction

#: The credentials ``proxy:status`` summarises (seed 002's Qwen proxy).
PROXY_CREDENTIALS = "qwen"


async def credentials_summary(db: ReadHandle) -> dict[str, Any]:
    creds = await credentials.status(db, PROXY_CREDENTIALS)
    return {
        "valid": creds.is_valid,
        "expiresAt": creds.expires_at,
        "hasCredentials": creds.has_credentials,
        "isExpired": creds.is_expired,
    }


class Change(NamedTuple):
    """A payload to log, and what its objects were before (``{id: object | None}``)."""

    payload: Payload
    prior: dict[str, Any] | None = None


def prior_of(
    *before: ProviderRecord | ModelRecord | None, new: str | None = None
) -> dict[str, Any]:
    """``{id: object as it was}``, and ``{new: None}`` for an object the write created."""
    prior: dict[str, Any] = {record.id: record.to_json() for record in before if record}
    if new is not None:
        prior[new] = None
    return prior


async def load_mirror(db: Database) -> RegistryMirror:
    """The registry as of the log's current seq; call before any write can commit."""
    return RegistryMirror(
        [p.to_json() for p in await providers.list_all(db)],
        [m.to_json() for m in await models.list_all(db)],
        await credentials_summary(db),
        await event_log.current_seq(db),
    )


async def providers_changed(
    tx: Transaction,
    action: str,
    provider_id: str | None,
    changed: list[ProviderRecord],
    deleted: list[str] = [],  # noqa: B006 - never mutated
    *,
    prior: dict[str, Any],
) -> Change:
    counts = await registry_counts(tx)
    payload = ProvidersChanged(
        action=action,  # type: ignore[arg-type]
        provider_id=provider_id,
        changed=[p.to_json() for p in changed],
        deleted=deleted,
        total=counts.providers,
        enabled=counts.enabled_providers,
        timestamp=tx.now,
    )
    return Change(payload, prior)


async def models_changed(
    tx: Transaction,
    action: str,
    model_id: str | None,
    changed: list[ModelRecord],
    deleted: list[str] = [],  # noqa: B006 - never mutated
    *,
    prior: dict[str, Any],
) -> Change:
    payload = ModelsChanged(
        action=action,  # type: ignore[arg-type]
        model_id=model_id,
        changed=[m.to_json() for m in changed],
        deleted=deleted,
        total=(await registry_counts(tx)).models,
        timestamp=tx.now,
    )
    return Change(payload, prior)


def process_blocks(proxy: ProxySnapshot) -> dict[str, Any]:
    return {name: block.model_dump() for name, block in proxy.processes.items()}


async def proxy_status_counts(tx: Transaction, proxy: ProxySnapshot) -> ProxyStatusCounts:
    counts = await registry_counts(tx)
    return ProxyStatusCounts(
        status=proxy.status,  # type: ignore[arg-type]
        providers={"total": counts.providers, "enabled": counts.enabled_providers},
        models={"total": counts.models},
        credentials=await credentials_summary(tx),
        message=proxy.message,
        timestamp=tx.now,
        **process_blocks(proxy),
    )


def greeting_status(proxy: ProxySnapshot, timestamp: str) -> dict[str, Any]:
    """The parts of the greeting the mirror does not hold (it adds lists and seq)."""
    return {
        "timestamp": timestamp,
        "status": proxy.status,
        **process_blocks(proxy),
        "message": proxy.message,
    }
