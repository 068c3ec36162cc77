"""Provider rows: names and SDK ids unique, API keys encrypted, deletes guarded."""

from __future__ import annotations

from typing import Any

from storage.database import Database, Transaction
from storage.errors import Conflict, NotFound
from storage.records import ProviderRecord
from storage.secrets import mask_secret

_COLUMNS = ("name", "sdk_id", "base_url", "image_url", "enabled")


async def list_all(db: Database | Transaction) -> list[ProviderRecord]:
    rows = await db.fetchall("SELECT * FROM providers ORDER BY created_at, rowid")
    return [ProviderRecord.from_row(row) for row in rows]


async def get(db: Database | Transaction, provider_id: str) -> ProviderRecord:
    row = await db.fetchone("SELECT * FROM providers WHERE id = ?", (provider_id,))
    if row is None:
        raise NotFound(f"Provider '{provider_id}' not found", field="id")
    return ProviderRecord.from_row(row)


async def exists(db: Database | Transaction, provider_id: str) -> bool:
    return await db.fetchone("SELECT 1 FROM providers WHERE id = ?", (provider_id,)) is not None


async def _check_unique(tx: Transaction, fields: dict[str, Any], exclude_id: str | None) -> None:
    for column, label in (("id", "id"), ("name", "name"), ("sdk_id", "sdkId")):
        if column not in fields or (column == "id" and exclude_id is not None):
            continue
        row = await tx.fetchone(
            f"SELECT id FROM providers WHERE {column} = ? AND id IS NOT ?",
            (fields[column], exclude_id),
        )
        if row is not None:
            raise Conflict(
                f"A provider with {label} '{fields[column]}' already exists", field=label
            )


def _secret_columns(tx: Transaction, api_key: str | None) -> tuple[bytes | None, str | None]:
    if api_key is None:
        return None, None
    return tx.secrets.encrypt(api_key), mask_secret(api_key)


async def insert(tx: Transaction, fields: dict[str, Any]) -> ProviderRecord:
    """Insert a provider; ``fields`` uses column names plus a plaintext ``api_key``."""
    await _check_unique(tx, fields, None)
    api_key_enc, api_key_hint = _secret_columns(tx, fields.get("api_key"))
    await tx.execute(
        "INSERT INTO providers (id, name, sdk_id, base_url, api_key_enc, api_key_hint,"
        " image_url, enabled, created_at, updated_at) VALUES (?,?,?,?,?,?,?,?,?,?)",
        (
            fields["id"],
            fields["name"],
            fields["sdk_id"],
            fields.get("base_url"),
            api_key_enc,
            api_key_hint,
            fields.get("image_url"),
            int(fields.get("enabled", True)),
            tx.now,
            tx.now,
        ),
    )
    return await get(tx, fields["id"])


async def update(
    tx: Transaction,
    provider_id: str,
    changes: dict[str, Any],
    current: ProviderRecord,
) -> ProviderRecord:
    """Apply ``changes`` (column names; ``api_key`` None clears the key); ``current`` is
    the row as this transaction read it (the caller needs it for the event's prior).

    A key belongs to the upstream it was given for: a changed ``base_url`` clears the
    stored key unless ``changes`` sets one, so whoever can edit the URL cannot have the
    router send the old key to a server of their choosing.
    """
    if (
        "base_url" in changes
        and changes["base_url"] != current.base_url
        and "api_key" not in changes
    ):
        changes = {**changes, "api_key": None}
    await _check_unique(tx, changes, provider_id)
    assignments: list[str] = []
    params: list[Any] = []
    for column in _COLUMNS:
        if column in changes:
            assignments.append(f"{column} = ?")
            value = changes[column]
            params.append(int(value) if column == "enabled" else value)
    if "api_key" in changes:
        api_key_enc, api_key_hint = _secret_columns(tx, changes["api_key"])
        assignments += ["api_key_enc = ?", "api_key_hint = ?"]
        params += [api_key_enc, api_key_hint]
    assignments.append("updated_at = ?")
    params += [tx.now, provider_id]
    row = await tx.returning(
        f"UPDATE providers SET {', '.join(assignments)} WHERE id = ? RETURNING *", params
    )
    assert row is not None  # the row was read in this transaction
    return ProviderRecord.from_row(row)


async def delete(tx: Transaction, provider_id: str, *, cascade: bool) -> list[str]:
    """Delete a provider; returns the ids of models deleted with it (``cascade``)."""
    await get(tx, provider_id)
    rows = await tx.fetchall("SELECT id FROM models WHERE provider_id = ?", (provider_id,))
    model_ids = [row["id"] for row in rows]
    if model_ids and not cascade:
        raise Conflict(
            f"Provider '{provider_id}' still has {len(model_ids)} model(s);"
            " delete them first or pass cascade=true",
            field="cascade",
        )
    await tx.execute("DELETE FROM models WHERE provider_id = ?", (provider_id,))
    await tx.execute("DELETE FROM providers WHERE id = ?", (provider_id,))
    return model_ids
