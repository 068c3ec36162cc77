"""Builders for the payloads that describe the whole registry.

They take any read handle (the reader connection, or a write transaction so a write's
events show exactly what it committed) and return the event payload models.
"""

from __future__ import annotations

from typing import Any

from events.payloads import ModelsUpdated, ProvidersUpdated, ProxyStatus
from server.proxy_state import ProxySnapshot
from storage import credentials, models, providers
from storage.database import Database, Transaction
from storage.records import ModelRecord, ProviderRecord

ReadHandle = Database | Transaction

#: The credentials ``proxy:status`` summarises (seed 002's Qwen proxy).
PROXY_CREDENTIALS = "qwen"


def _providers_summary(items: list[ProviderRecord]) -> dict[str, Any]:
    return {
        "items": [p.to_json() for p in items],
        "total": len(items),
        "enabled": sum(1 for p in items if p.enabled),
    }


def _models_summary(items: list[ModelRecord]) -> dict[str, Any]:
    return {"items": [m.to_json() for m in items], "total": len(items)}


async def providers_updated(
    db: ReadHandle, action: str, provider_id: str | None, timestamp: str
) -> ProvidersUpdated:
    summary = _providers_summary(await providers.list_all(db))
    return ProvidersUpdated(action=action, provider_id=provider_id, timestamp=timestamp, **summary)  # type: ignore[arg-type]


async def models_updated(
    db: ReadHandle, action: str, model_id: str | None, timestamp: str
) -> ModelsUpdated:
    summary = _models_summary(await models.list_all(db))
    return ModelsUpdated(action=action, model_id=model_id, timestamp=timestamp, **summary)  # type: ignore[arg-type]


async def proxy_status(db: ReadHandle, proxy: ProxySnapshot, timestamp: str) -> ProxyStatus:
    creds = await credentials.status(db, PROXY_CREDENTIALS)
    blocks = {name: block.model_dump() for name, block in proxy.processes.items()}
    return ProxyStatus(
        status=proxy.status,  # type: ignore[arg-type]
        providers=_providers_summary(await providers.list_all(db)),
        models=_models_summary(await models.list_all(db)),
        credentials={
            "valid": creds.is_valid,
            "expiresAt": creds.expires_at,
            "hasCredentials": creds.has_credentials,
            "isExpired": creds.is_expired,
        },
        message=proxy.message,
        timestamp=timestamp,
        **blocks,
    )
