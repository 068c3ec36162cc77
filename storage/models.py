"""Model rows: (providerId, sdkId) unique, at most one default per type, config sections."""

from __future__ import annotations

from dataclasses import fields
from typing import Any

import orjson

from storage.database import Database, Transaction
from storage.errors import Conflict, NotFound
from storage.records import ModelRecord

_COLUMNS = (
    "name", "description", "type", "provider_id", "sdk_id", "context_length", "enabled",
    "is_default", "status", "ctx_size", "batch_size", "threads", "model_path", "model_url",
)  # fmt: skip
_BOOLEAN = {"enabled", "is_default"}
# Columns in ModelRecord's field order, so ModelRecord.from_row can build by position.
_FIELDS = ", ".join(f.name for f in fields(ModelRecord))
_SELECT = f"SELECT {_FIELDS} FROM models"


async def list_all(
    db: Database | Transaction,
    *,
    type: str | None = None,
    provider_id: str | None = None,
    enabled: bool | None = None,
) -> list[ModelRecord]:
    clauses: list[str] = []
    params: list[Any] = []
    for column, value in (("type", type), ("provider_id", provider_id), ("enabled", enabled)):
        if value is not None:
            clauses.append(f"{column} = ?")
            params.append(int(value) if isinstance(value, bool) else value)
    where = f" WHERE {' AND '.join(clauses)}" if clauses else ""
    rows = await db.fetchall(f"{_SELECT}{where} ORDER BY created_at, rowid", params)
    return [ModelRecord.from_row(row) for row in rows]


async def get(db: Database | Transaction, model_id: str) -> ModelRecord:
    row = await db.fetchone(f"{_SELECT} WHERE id = ?", (model_id,))
    if row is None:
        raise NotFound(f"Model '{model_id}' not found", field="id")
    return ModelRecord.from_row(row)


async def _check(tx: Transaction, fields: dict[str, Any], current: ModelRecord | None) -> None:
    if current is None:
        if await tx.fetchone("SELECT 1 FROM models WHERE id = ?", (fields["id"],)):
            raise Conflict(f"A model with id '{fields['id']}' already exists", field="id")
    provider_id = fields.get("provider_id", current.provider_id if current else None)
    sdk_id = fields.get("sdk_id", current.sdk_id if current else None)
    if "provider_id" in fields and provider_id is not None:
        if not await tx.fetchone("SELECT 1 FROM providers WHERE id = ?", (provider_id,)):
            raise NotFound(f"Provider '{provider_id}' not found", field="providerId")
    if sdk_id is not None and ("sdk_id" in fields or "provider_id" in fields):
        row = await tx.fetchone(
            "SELECT id FROM models WHERE provider_id IS ? AND sdk_id = ? AND id IS NOT ?",
            (provider_id, sdk_id, current.id if current else None),
        )
        if row is not None:
            raise Conflict(
                f"Model '{row['id']}' already uses sdkId '{sdk_id}' for this provider",
                field="sdkId",
            )


async def _clear_other_default(tx: Transaction, model_type: str, keep_id: str) -> None:
    """Make room for a new default of ``model_type`` (the unique index allows one)."""
    await tx.execute(
        "UPDATE models SET is_default = 0, updated_at = ? "
        "WHERE type = ? AND is_default = 1 AND id != ?",
        (tx.now, model_type, keep_id),
    )


async def insert(tx: Transaction, fields: dict[str, Any]) -> ModelRecord:
    await _check(tx, fields, None)
    if fields.get("is_default"):
        await _clear_other_default(tx, fields["type"], fields["id"])
    columns = ["id", *(c for c in _COLUMNS if c in fields), "created_at", "updated_at"]
    values = [int(fields[c]) if c in _BOOLEAN else fields[c] for c in columns[:-2]] + [
        tx.now,
        tx.now,
    ]
    marks = ",".join("?" * len(columns))
    await tx.execute(f"INSERT INTO models ({','.join(columns)}) VALUES ({marks})", values)
    return await get(tx, fields["id"])


async def update(
    tx: Transaction, model_id: str, changes: dict[str, Any], current: ModelRecord
) -> ModelRecord:
    """Apply ``changes``; ``current`` is the row as this transaction read it (callers
    read it first anyway: for the event's prior object and the status rules)."""
    await _check(tx, changes, current)
    becomes_default = changes.get("is_default", current.is_default)
    if becomes_default and (changes.get("is_default") or "type" in changes):
        await _clear_other_default(tx, changes.get("type", current.type), model_id)
    columns = [c for c in _COLUMNS if c in changes]
    params = [int(changes[c]) if c in _BOOLEAN else changes[c] for c in columns]
    assignments = [f"{c} = ?" for c in columns] + ["updated_at = ?"]
    row = await tx.returning(
        f"UPDATE models SET {', '.join(assignments)} WHERE id = ? RETURNING {_FIELDS}",
        [*params, tx.now, model_id],
    )
    assert row is not None  # the row was read in this transaction
    return ModelRecord.from_row(row)


async def delete(tx: Transaction, model_id: str) -> None:
    """Delete a model; its config sections go with it (ON DELETE CASCADE)."""
    await get(tx, model_id)
    await tx.execute("DELETE FROM models WHERE id = ?", (model_id,))


async def get_config(db: Database | Transaction, model_id: str, section: str) -> dict[str, Any]:
    await get(db, model_id)
    row = await db.fetchone(
        "SELECT config FROM model_configs WHERE model_id = ? AND section = ?",
        (model_id, section),
    )
    return orjson.loads(row["config"]) if row else {}


async def put_config(tx: Transaction, model_id: str, section: str, config: dict[str, Any]) -> None:
    await get(tx, model_id)
    await tx.execute(
        "INSERT INTO model_configs (model_id, section, config, updated_at) VALUES (?,?,?,?)"
        " ON CONFLICT (model_id, section) DO UPDATE SET config = excluded.config,"
        " updated_at = excluded.updated_at",
        (model_id, section, orjson.dumps(config), tx.now),
    )


async def other_default(db: Database | Transaction, model_type: str, model_id: str) -> str | None:
    """The default of ``model_type`` other than ``model_id`` (a new default replaces it)."""
    row = await db.fetchone(
        "SELECT id FROM models WHERE type = ? AND is_default = 1 AND id != ?",
        (model_type, model_id),
    )
    return str(row["id"]) if row else None
