"""Encryption at rest for write-only secrets (provider API keys, credential tokens).

Fernet (AES-128-CBC + HMAC-SHA256 from ``cryptography``) authenticates as well as
encrypts, so a tampered column fails loudly instead of decrypting to garbage. The key
comes from ``MODELDECK_SECRET_KEY`` or is generated once into a 0600 file beside the
database, so a copied database file alone does not reveal the secrets.
"""

from __future__ import annotations

import os
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken

from storage.errors import StorageError


class SecretBox:
    """Encrypts and decrypts short secrets with one Fernet key."""

    def __init__(self, key: bytes | str) -> None:
        try:
            self._fernet = Fernet(key)
        except (ValueError, TypeError) as exc:
            raise StorageError(
                "secret key is not a valid Fernet key (32 url-safe base64-encoded bytes)",
                field="secretKey",
            ) from exc

    @classmethod
    def from_key_file(cls, path: Path) -> SecretBox:
        """Load the key from ``path``, creating it with mode 0600 on first use."""
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "wb") as handle:
                handle.write(Fernet.generate_key())
        return cls(path.read_bytes().strip())

    def encrypt(self, plaintext: str) -> bytes:
        return self._fernet.encrypt(plaintext.encode())

    def decrypt(self, token: bytes) -> str:
        try:
            return self._fernet.decrypt(token).decode()
        except InvalidToken as exc:
            raise StorageError("stored secret cannot be decrypted with this key") from exc


def mask_secret(secret: str) -> str:
    """A hint that identifies a secret without revealing it: ``sk-…abcd``."""
    if len(secret) <= 8:
        return "…" + secret[-2:] if len(secret) > 4 else "…"
    prefix = secret[:3] if secret[2] == "-" else secret[:2]
    return f"{prefix}…{secret[-4:]}"
