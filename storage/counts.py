"""The registry's counts: what every ``providers:updated``, ``models:updated`` and
``proxy:status`` reports, read in one statement (and once per write, see
``Transaction.read_once``)."""

from __future__ import annotations

from dataclasses import dataclass

from storage.database import Database, Transaction

_COUNTS = (
    "SELECT (SELECT COUNT(*) FROM providers), (SELECT COALESCE(SUM(enabled), 0) FROM providers),"
    " (SELECT COUNT(*) FROM models)"
)


@dataclass(frozen=True, slots=True)
class RegistryCounts:
    providers: int
    enabled_providers: int
    models: int


async def registry_counts(db: Database | Transaction) -> RegistryCounts:
    if isinstance(db, Transaction):
        return await db.read_once("registry_counts", lambda: _read(db))
    return await _read(db)


async def _read(db: Database | Transaction) -> RegistryCounts:
    row = await db.fetchone(_COUNTS)
    assert row is not None
    return RegistryCounts(int(row[0]), int(row[1]), int(row[2]))
