"""Credentials per provider key (e.g. ``qwen``): token and cookies encrypted at rest."""

from __future__ import annotations

import time

from storage.database import Database, Transaction
from storage.errors import NotFound
from storage.records import CredentialRecord


async def status(db: Database | Transaction, provider: str) -> CredentialRecord:
    """The status view; a provider without credentials reports ``hasCredentials: false``."""
    row = await db.fetchone(
        "SELECT expires_at, created_at, updated_at FROM credentials WHERE provider = ?",
        (provider,),
    )
    if row is None:
        return CredentialRecord(
            provider=provider, has_credentials=False, is_valid=False, is_expired=False,
            expires_at=None, created_at=None, updated_at=None,
        )  # fmt: skip
    expires_at = row["expires_at"]
    expired = expires_at is not None and expires_at <= time.time()
    return CredentialRecord(
        provider=provider, has_credentials=True, is_valid=not expired, is_expired=expired,
        expires_at=expires_at, created_at=row["created_at"], updated_at=row["updated_at"],
    )  # fmt: skip


async def put(
    tx: Transaction, provider: str, token: str, cookies: str | None, expires_at: int | None
) -> CredentialRecord:
    await tx.execute(
        "INSERT INTO credentials (provider, token_enc, cookies_enc, expires_at, created_at,"
        " updated_at) VALUES (?,?,?,?,?,?) ON CONFLICT (provider) DO UPDATE SET"
        " token_enc = excluded.token_enc, cookies_enc = excluded.cookies_enc,"
        " expires_at = excluded.expires_at, updated_at = excluded.updated_at",
        (
            provider,
            tx.secrets.encrypt(token),
            tx.secrets.encrypt(cookies) if cookies is not None else None,
            expires_at,
            tx.now,
            tx.now,
        ),
    )
    return await status(tx, provider)


async def delete(tx: Transaction, provider: str) -> CredentialRecord:
    cursor = await tx.execute("DELETE FROM credentials WHERE provider = ?", (provider,))
    if cursor.rowcount == 0:
        raise NotFound(f"No credentials stored for '{provider}'", field="provider")
    return await status(tx, provider)

