"""Builders for the payloads that describe the whole registry.

``RegistryState.load`` takes any read handle (the reader connection, or a write
transaction so a write's events show exactly what it committed); the builders turn
that one read into the event payload models.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from events.payloads import ModelsUpdated, ProvidersUpdated, ProxyStatus
from server.registry.proxy_state import ProxySnapshot
from storage import credentials, models, providers
from storage.database import Database, Transaction

ReadHandle = Database | Transaction

#: The credentials ``proxy:status`` summarises (seed 002's Qwen proxy).
PROXY_CREDENTIALS = "qwen"


@dataclass(frozen=True)
class RegistryState:
    """Everything the registry payloads list, read once per write (or per greeting)."""

    providers: dict[str, Any]
    models: dict[str, Any]
    credentials: dict[str, Any]

    @classmethod
    async def load(cls, db: ReadHandle) -> RegistryState:
        provider_items = [p.to_json() for p in await providers.list_all(db)]
        model_items = [m.to_json() for m in await models.list_all(db)]
        creds = await credentials.status(db, PROXY_CREDENTIALS)
        return cls(
            providers={
                "items": provider_items,
                "total": len(provider_items),
                "enabled": sum(1 for p in provider_items if p["enabled"]),
            },
            models={"items": model_items, "total": len(model_items)},
            credentials={
                "valid": creds.is_valid,
                "expiresAt": creds.expires_at,
                "hasCredentials": creds.has_credentials,
                "isExpired": creds.is_expired,
            },
        )


def providers_updated(
    state: RegistryState, action: str, provider_id: str | None, timestamp: str
) -> ProvidersUpdated:
    return ProvidersUpdated(
        action=action,  # type: ignore[arg-type]
        provider_id=provider_id,
        timestamp=timestamp,
        **state.providers,
    )


def models_updated(
    state: RegistryState, action: str, model_id: str | None, timestamp: str
) -> ModelsUpdated:
    return ModelsUpdated(
        action=action,  # type: ignore[arg-type]
        model_id=model_id,
        timestamp=timestamp,
        **state.models,
    )


def proxy_status(state: RegistryState, proxy: ProxySnapshot, timestamp: str) -> ProxyStatus:
    blocks = {name: block.model_dump() for name, block in proxy.processes.items()}
    return ProxyStatus(
        status=proxy.status,  # type: ignore[arg-type]
        providers=state.providers,
        models=state.models,
        credentials=state.credentials,
        message=proxy.message,
        timestamp=timestamp,
        **blocks,
    )
