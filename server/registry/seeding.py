"""First-start seed data (seed 004's static models), applied once per database.

A ``meta`` row marks the database as seeded, so a provider or model the user deleted
is not brought back on the next start, and nothing the user wrote is ever overwritten.
"""

from __future__ import annotations

import json
from importlib import resources

from server.http.schemas import ModelCreate, ProviderCreate
from storage import models, providers
from storage.database import Database

_MARK = "seeded"


async def seed_once(db: Database) -> bool:
    """Insert the seed providers and models unless this database was seeded before."""
    data = json.loads(resources.files("server.registry.data").joinpath("seed.json").read_text())
    async with db.transaction() as tx:
        if await tx.fetchone("SELECT 1 FROM meta WHERE key = ?", (_MARK,)):
            return False
        for raw in data["providers"]:
            fields = ProviderCreate.model_validate(raw).model_dump()
            if not await providers.exists(tx, fields["id"]):
                await providers.insert(tx, fields)
        for raw in data["models"]:
            fields = ModelCreate.model_validate(raw).model_dump()
            if not await tx.fetchone("SELECT 1 FROM models WHERE id = ?", (fields["id"],)):
                taken = await tx.fetchone(
                    "SELECT 1 FROM models WHERE type = ? AND is_default = 1", (fields["type"],)
                )
                fields["is_default"] = fields["is_default"] and taken is None
                await models.insert(tx, fields)
        await tx.execute("INSERT INTO meta (key, value) VALUES (?, ?)", (_MARK, tx.now))
    return True
