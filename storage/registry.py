"""One consistent read of providers and models, for a process that only reads the file.

The router runs apart from the server, on its own read-only connection (it never opens
``Database``, which migrates and writes). This reads both tables in one transaction, so
they come from the same commit, naming every column it needs, and returns typed records.
Each provider's stored API key comes back still encrypted: what to do with a key that
cannot be decrypted is the reader's decision.
"""

from __future__ import annotations

from dataclasses import dataclass, fields

import aiosqlite

from storage.records import ModelRecord, ProviderRecord

_PROVIDERS = (
    "SELECT id, name, sdk_id, base_url, image_url, enabled, api_key_enc, api_key_hint,"
    " created_at, updated_at FROM providers ORDER BY created_at, rowid"
)
# Columns in ModelRecord's field order, so ModelRecord.from_row can build by position.
_MODELS = (
    f"SELECT {', '.join(f.name for f in fields(ModelRecord))} FROM models"
    " ORDER BY created_at, rowid"
)


@dataclass(frozen=True, slots=True)
class RegistryRows:
    """Providers and models as of one commit, and the providers' encrypted keys."""

    providers: list[ProviderRecord]
    models: list[ModelRecord]
    encrypted_keys: dict[str, bytes]  # by provider id, for providers that have a key


async def read_registry(conn: aiosqlite.Connection) -> RegistryRows:
    """Every provider and model; ``conn`` must have a row factory of ``sqlite3.Row``
    and no transaction open."""
    await conn.execute("BEGIN")
    try:
        provider_rows = list(await conn.execute_fetchall(_PROVIDERS))
        model_rows = list(await conn.execute_fetchall(_MODELS))
    finally:
        await conn.execute("COMMIT")
    return RegistryRows(
        providers=[ProviderRecord.from_row(row) for row in provider_rows],
        models=[ModelRecord.from_row(row) for row in model_rows],
        encrypted_keys={
            row["id"]: row["api_key_enc"] for row in provider_rows if row["api_key_enc"] is not None
        },
    )
