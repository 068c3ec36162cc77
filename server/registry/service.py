"""Every registry write, shared by REST routes and socket requests.

A write is one storage transaction that changes rows and appends its events to the
outbox (the change's own event, then a refreshed ``proxy:status``); the commit hook
publishes them afterwards. Nothing is published for a write that raised.

The events are deltas: the records the write changed (as ``GET`` shows them), the ids
it deleted, and counts. A write never reads the whole registry, so its cost grows with
what it changed, not with the size of the registry.
"""

from __future__ import annotations

from dataclasses import fields
from typing import Any

from slugify import slugify

from events.payloads import CredentialsUpdated, Payload
from server.errors import BadRequest, ResourceConflict, ValidationFailed
from server.http.schemas import (
    CredentialsPut,
    ModelCreate,
    ModelUpdate,
    ProviderCreate,
    ProviderUpdate,
)
from server.registry import snapshots
from server.registry.config_sections import require_section, validate_section
from server.registry.proxy_state import ProxyState
from server.registry.snapshots import Change, prior_of
from server.registry.upstreams import upstream_refusal
from storage import credentials, models, providers
from storage.database import Database, EventToLog, Transaction
from storage.records import CredentialRecord, ModelRecord, ProviderRecord

#: Allowed status changes of a model (seed 000's start/stop lifecycle).
TRANSITIONS: dict[str, set[str]] = {
    "stopped": {"starting"},
    "starting": {"running", "stopped", "error"},
    "running": {"stopping", "error"},
    "stopping": {"stopped", "error"},
    "error": {"stopped", "starting"},
}

START_FROM = {"stopped", "error", "starting"}
STOP_FROM = {"running", "starting", "stopping", "error"}


def check_transition(current: str, new: str) -> None:
    if new != current and new not in TRANSITIONS[current]:
        allowed = ", ".join(sorted(TRANSITIONS[current]))
        raise ResourceConflict(
            f"status: cannot go from '{current}' to '{new}' (allowed: {allowed})",
            details={"field": "status", "from": current, "to": new},
        )


class RegistryService:
    """Provider, model, config and credential writes. Safe to call concurrently."""

    def __init__(
        self, db: Database, proxy: ProxyState, *, allow_link_local_upstreams: bool = False
    ) -> None:
        self.db = db
        self.proxy = proxy
        self.allow_link_local_upstreams = allow_link_local_upstreams

    def _check_base_url(self, base_url: str | None) -> None:
        """The router sends the provider's key to ``baseUrl``: refuse metadata services."""
        if base_url is None:
            return
        refused = upstream_refusal(base_url, allow_link_local=self.allow_link_local_upstreams)
        if refused is not None:
            raise ValidationFailed(
                f"baseUrl: {refused}",
                details=[{"field": "baseUrl", "message": refused, "type": "value_error"}],
            )

    async def _log(self, tx: Transaction, *events: Change | Payload) -> None:
        """Log the write's events, then a fresh ``proxy:status`` (counts, no lists)."""
        rows: list[EventToLog] = []
        for event in events:
            change = event if isinstance(event, Change) else Change(event)
            payload = change.payload
            rows.append((payload.event, payload.topic, payload.to_json(), change.prior))
        status = await snapshots.proxy_status_counts(tx, self.proxy.snapshot())
        rows.append((status.event, status.topic, status.to_json(), None))
        await tx.log_events(rows)

    async def _unique_id(self, tx: Transaction, table: str, name: str) -> str:
        base = slugify(name, regex_pattern=r"[^a-z0-9.:_-]+") or table.rstrip("s")
        candidate, n = base, 1
        while await tx.fetchone(f"SELECT 1 FROM {table} WHERE id = ?", (candidate,)):
            n += 1
            candidate = f"{base}-{n}"
        return candidate

    async def publish_proxy_status(self) -> None:
        """Log and broadcast a fresh ``proxy:status`` (the supervisor calls this on changes)."""
        async with self.db.transaction() as tx:
            await self._log(tx)

    # -- providers ---------------------------------------------------------------

    async def create_provider(self, body: ProviderCreate) -> ProviderRecord:
        self._check_base_url(body.base_url)
        fields = body.model_dump()
        async with self.db.transaction() as tx:
            fields["id"] = fields["id"] or await self._unique_id(tx, "providers", body.name)
            record = await providers.insert(tx, fields)
            prior = prior_of(new=record.id)
            await self._log(
                tx,
                await snapshots.providers_changed(tx, "created", record.id, [record], prior=prior),
            )
        return record

    async def update_provider(self, provider_id: str, body: ProviderUpdate) -> ProviderRecord:
        """Apply the sent fields; a new ``baseUrl`` drops the stored key unless one is sent
        (see ``providers.update``), so a changed upstream never receives the old key."""
        self._check_base_url(body.base_url)
        return await self._change_provider(provider_id, body.changes(), "updated")

    async def set_provider_enabled(self, provider_id: str, enabled: bool) -> ProviderRecord:
        action = "enabled" if enabled else "disabled"
        return await self._change_provider(provider_id, {"enabled": enabled}, action)

    async def reload_provider(self, provider_id: str) -> ProviderRecord:
        """Tell every listener to re-read this provider (its key or models changed outside)."""
        return await self._change_provider(provider_id, {}, "reloaded")

    async def _change_provider(
        self, provider_id: str, changes: dict[str, Any], action: str
    ) -> ProviderRecord:
        async with self.db.transaction() as tx:
            current = await providers.get(tx, provider_id)
            prior = prior_of(current)
            record = await providers.update(tx, provider_id, changes, current)
            await self._log(
                tx,
                await snapshots.providers_changed(tx, action, provider_id, [record], prior=prior),
            )
        return record

    async def delete_provider(self, provider_id: str, *, cascade: bool) -> list[str]:
        """Delete a provider (and, with ``cascade``, its models); returns the model ids."""
        async with self.db.transaction() as tx:
            provider = await providers.get(tx, provider_id)
            owned = await models.list_all(tx, provider_id=provider_id)
            model_ids = await providers.delete(tx, provider_id, cascade=cascade)
            events = [
                await snapshots.providers_changed(
                    tx, "deleted", provider_id, [], [provider_id], prior=prior_of(provider)
                )
            ]
            if model_ids:
                events.append(
                    await snapshots.models_changed(
                        tx, "deleted", None, [], model_ids, prior=prior_of(*owned)
                    )
                )
            await self._log(tx, *events)
        return model_ids

    # -- models ------------------------------------------------------------------

    async def create_model(self, body: ModelCreate) -> ModelRecord:
        fields = body.model_dump()
        async with self.db.transaction() as tx:
            fields["id"] = fields["id"] or await self._unique_id(tx, "models", body.name)
            previous = (
                await models.other_default(tx, fields["type"], fields["id"])
                if fields.get("is_default")
                else None
            )
            replaced = await models.get(tx, previous) if previous else None
            record = await models.insert(tx, fields)
            await self._log_models(tx, "created", record, None, replaced)
        return record

    async def update_model(self, model_id: str, body: ModelUpdate) -> ModelRecord:
        changes = body.changes()
        async with self.db.transaction() as tx:
            current = await models.get(tx, model_id)
            action = "updated"
            if "status" in changes:
                check_transition(current.status, changes["status"])
                if changes["status"] != current.status and changes["status"] == "running":
                    action = "started"
                elif changes["status"] != current.status and changes["status"] == "stopped":
                    action = "stopped"
            becomes_default = changes.get("is_default", current.is_default)
            previous = (
                await models.other_default(tx, changes.get("type", current.type), model_id)
                if becomes_default and (changes.get("is_default") or "type" in changes)
                else None
            )
            replaced = await models.get(tx, previous) if previous else None
            record = await models.update(tx, model_id, changes, current)
            await self._log_models(tx, action, record, current, replaced)
        return record

    async def set_default_model(self, model_id: str) -> ModelRecord:
        async with self.db.transaction() as tx:
            current = await models.get(tx, model_id)
            previous = await models.other_default(tx, current.type, model_id)
            replaced = await models.get(tx, previous) if previous else None
            record = await models.update(tx, model_id, {"is_default": True}, current)
            await self._log_models(tx, "default", record, current, replaced)
        return record

    async def _log_models(
        self,
        tx: Transaction,
        action: str,
        record: ModelRecord,
        before: ModelRecord | None,
        replaced_default: ModelRecord | None,
    ) -> None:
        """Log a model write: the model, and the default it replaced (now not default);
        ``before`` is the model as it was (None: the write created it)."""
        changed = [record]
        if replaced_default is not None:
            changed.append(await models.get(tx, replaced_default.id))
        prior = prior_of(before, replaced_default, new=None if before else record.id)
        await self._log(
            tx, await snapshots.models_changed(tx, action, record.id, changed, prior=prior)
        )

    async def start_model(self, model_id: str) -> ModelRecord:
        """Mark a model running (stopped|error|starting → running) in one commit."""
        return await self._run_status(model_id, "running", START_FROM, "started")

    async def stop_model(self, model_id: str) -> ModelRecord:
        """Mark a model stopped (running|starting|stopping|error → stopped)."""
        return await self._run_status(model_id, "stopped", STOP_FROM, "stopped")

    async def _run_status(
        self, model_id: str, target: str, allowed_from: set[str], action: str
    ) -> ModelRecord:
        async with self.db.transaction() as tx:
            current = await models.get(tx, model_id)
            if current.status not in allowed_from:
                raise ResourceConflict(
                    f"status: model '{model_id}' is {current.status}; cannot make it {target}",
                    details={"field": "status", "from": current.status, "to": target},
                )
            record = await models.update(tx, model_id, {"status": target}, current)
            await self._log_models(tx, action, record, current, None)
        return record

    async def delete_model(self, model_id: str) -> None:
        async with self.db.transaction() as tx:
            prior = prior_of(await models.get(tx, model_id))
            await models.delete(tx, model_id)
            await self._log(
                tx,
                await snapshots.models_changed(
                    tx, "deleted", model_id, [], [model_id], prior=prior
                ),
            )

    async def get_config(self, model_id: str, section: str) -> dict[str, Any]:
        return await models.get_config(self.db, model_id, require_section(section))

    async def put_config(self, model_id: str, section: str, config: Any) -> dict[str, Any]:
        require_section(section)
        if not isinstance(config, dict):
            raise BadRequest("config: must be a JSON object", details={"field": "config"})
        stored = validate_section(section, config)
        async with self.db.transaction() as tx:
            await models.put_config(tx, model_id, section, stored)
            # The model's row (what GET shows) is unchanged: nothing in ``changed``.
            await self._log(
                tx, await snapshots.models_changed(tx, "config", model_id, [], prior={})
            )
        return stored

    # -- credentials -------------------------------------------------------------

    async def put_credentials(self, provider: str, body: CredentialsPut) -> CredentialRecord:
        async with self.db.transaction() as tx:
            record = await credentials.put(tx, provider, body.token, body.cookies, body.expires_at)
            await self._log(tx, _credentials_event("updated", record, tx.now))
        return record

    async def delete_credentials(self, provider: str) -> CredentialRecord:
        async with self.db.transaction() as tx:
            record = await credentials.delete(tx, provider)
            await self._log(tx, _credentials_event("deleted", record, tx.now))
        return record

    async def credentials_status(self, provider: str) -> CredentialRecord:
        return await credentials.status(self.db, provider)


def _credentials_event(action: str, record: CredentialRecord, now: str) -> CredentialsUpdated:
    return CredentialsUpdated(
        action=action,  # type: ignore[arg-type]
        timestamp=now,
        **{f.name: getattr(record, f.name) for f in fields(record)},
    )
