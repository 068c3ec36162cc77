"""Which key opens a database's secrets, checked before the server starts.

A key that does not match the stored secrets (a lost ``<db>.key`` silently replaced by
a new one, a wrong ``MODELDECK_SECRET_KEY``) would leave every provider key and
credential unreadable without a word. So the database keeps a fingerprint of its key
in ``meta`` — HMAC-SHA256 of a fixed label under the key, which identifies the key
without revealing it — and start-up refuses, in one line, a key that differs while
encrypted rows exist. A database from before the fingerprint is checked by decrypting
one of its secrets instead. The key file is created only once that check has passed.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import logging
import os
import sqlite3
from dataclasses import dataclass
from pathlib import Path

from cryptography.fernet import Fernet

from storage.database import Database
from storage.errors import StorageError
from storage.secrets import SecretBox

log = logging.getLogger(__name__)

FINGERPRINT_LABEL = b"modeldeck secret-key fingerprint v1"
META_KEY = "secret_key_fingerprint"


class SecretKeyError(StorageError):
    """The secret key is malformed, missing or not the one the stored secrets need."""


def fingerprint(key: bytes) -> str:
    """Identifies ``key`` (a Fernet key) without revealing anything about it."""
    raw = base64.urlsafe_b64decode(key)
    return hmac.new(raw, FINGERPRINT_LABEL, hashlib.sha256).hexdigest()


@dataclass(frozen=True)
class StoredSecrets:
    """What the database file says about its key, read before it is opened."""

    fingerprint: str | None = None
    count: int = 0
    sample: bytes | None = None

    @classmethod
    def read(cls, path: Path) -> StoredSecrets:
        if not path.exists():
            return cls()
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        try:
            if conn.execute("PRAGMA user_version").fetchone()[0] < 1:
                return cls()
            row = conn.execute("SELECT value FROM meta WHERE key = ?", (META_KEY,)).fetchone()
            sample = conn.execute(
                "SELECT api_key_enc FROM providers WHERE api_key_enc IS NOT NULL"
                " UNION ALL SELECT token_enc FROM credentials LIMIT 1"
            ).fetchone()
            (count,) = conn.execute(
                "SELECT (SELECT count(*) FROM providers WHERE api_key_enc IS NOT NULL)"
                " + (SELECT count(*) FROM credentials)"
            ).fetchone()
        finally:
            conn.close()
        return cls(row[0] if row else None, int(count), sample[0] if sample else None)


@dataclass(frozen=True)
class SecretKey:
    """The key to open the database with; ``created`` when it was just generated."""

    box: SecretBox
    fingerprint: str
    created: Path | None = None


def load_secret_key(db_path: Path, key_file: Path, given: str | None) -> SecretKey:
    """The key from ``given`` (MODELDECK_SECRET_KEY) or ``key_file``, checked against
    the database; the key file is generated only for a database with no secrets."""
    stored = StoredSecrets.read(db_path)
    source = "MODELDECK_SECRET_KEY" if given is not None else str(key_file)
    created: Path | None = None
    if given is not None:
        key = given.encode()
    elif key_file.exists():
        key = key_file.read_bytes().strip()
    elif stored.count:
        raise SecretKeyError(
            f"secret key file {key_file} is missing but {db_path} holds {stored.count} "
            "encrypted secret(s): restore the file or set MODELDECK_SECRET_KEY "
            "(a new key could not decrypt them)"
        )
    else:
        key, created = _create_key_file(key_file)
    try:
        box = SecretBox(key)
    except StorageError:
        raise SecretKeyError(
            f"secret key from {source} is not a valid key (32 url-safe base64-encoded bytes)"
        ) from None
    mark = fingerprint(key)
    if stored.count and not _matches(stored, mark, box):
        raise SecretKeyError(
            f"secret key from {source} is not the key the {stored.count} encrypted "
            f"secret(s) in {db_path} were written with: restore the right key file or "
            "MODELDECK_SECRET_KEY"
        )
    return SecretKey(box, mark, created)


def _create_key_file(key_file: Path) -> tuple[bytes, Path | None]:
    """A new key in ``key_file``, or the one a process sharing the database wrote first.

    The key is written whole to a file of its own, then linked into place: the link
    fails if another process starting at the same moment won, and then its key is used.
    """
    key = Fernet.generate_key()
    key_file.parent.mkdir(parents=True, exist_ok=True)
    draft = key_file.with_name(f"{key_file.name}.{os.getpid()}.new")
    fd = os.open(draft, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(key)
    try:
        os.link(draft, key_file)
    except FileExistsError:
        return key_file.read_bytes().strip(), None
    finally:
        draft.unlink()
    return key, key_file


def _matches(stored: StoredSecrets, mark: str, box: SecretBox) -> bool:
    if stored.fingerprint is not None:
        return hmac.compare_digest(stored.fingerprint, mark)
    try:  # a database from before fingerprints: one secret tells
        box.decrypt(stored.sample or b"")
    except StorageError:
        return False
    return True


async def record_fingerprint(db: Database, mark: str) -> None:
    """Remember which key this database's secrets are encrypted with."""
    row = await db.fetchone("SELECT value FROM meta WHERE key = ?", (META_KEY,))
    if row is not None and row["value"] == mark:
        return
    try:
        async with db.transaction() as tx:
            await tx.execute(
                "INSERT INTO meta (key, value) VALUES (?, ?)"
                " ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                (META_KEY, mark),
            )
    except (sqlite3.Error, StorageError) as exc:
        # A read-only or full database still serves reads; the next start records it.
        log.warning("could not record the secret key's fingerprint in %s: %s", db.path, exc)
