"""Numbered schema migrations, applied in order at start-up.

Each file in ``storage/migrations`` named ``NNNN_description.sql`` is one step;
``PRAGMA user_version`` records the last step applied, so a fresh file and an old
file both end at the latest schema, and each step runs in its own transaction.
"""

from __future__ import annotations

import re
from importlib import resources

import aiosqlite

_NAME = re.compile(r"^(\d{4})_[a-z0-9_]+\.sql$")


def available_migrations() -> list[tuple[int, str, str]]:
    """``(version, file name, sql)`` for every migration shipped, in order."""
    found = []
    for entry in resources.files("storage.migrations").iterdir():
        match = _NAME.match(entry.name)
        if match:
            found.append((int(match.group(1)), entry.name, entry.read_text()))
    found.sort()
    versions = [version for version, _, _ in found]
    if len(set(versions)) != len(versions):
        names = [name for _, name, _ in found]
        raise RuntimeError(f"two migrations share a number: {names}")
    return found


async def schema_version(conn: aiosqlite.Connection) -> int:
    async with conn.execute("PRAGMA user_version") as cursor:
        row = await cursor.fetchone()
    return int(row[0]) if row else 0


async def migrate(conn: aiosqlite.Connection) -> list[str]:
    """Apply every migration newer than the file's version; return the names applied."""
    current = await schema_version(conn)
    applied = []
    for version, name, sql in available_migrations():
        if version <= current:
            continue
        # executescript would COMMIT first; run statements inside one explicit transaction.
        await conn.execute("BEGIN IMMEDIATE")
        # Another process sharing the file may have applied it while we waited for the
        # lock (several servers starting at once): read the version again under it.
        if await schema_version(conn) >= version:
            await conn.rollback()
            continue
        try:
            for statement in _statements(sql):
                await conn.execute(statement)
            await conn.execute(f"PRAGMA user_version = {version}")
            await conn.commit()
        except BaseException:
            await conn.rollback()
            raise
        applied.append(name)
    return applied


def _statements(sql: str) -> list[str]:
    """Split a migration into statements (migrations hold no triggers or string ';')."""
    lines = [line for line in sql.splitlines() if not line.lstrip().startswith("--")]
    return [part.strip() for part in "\n".join(lines).split(";") if part.strip()]
