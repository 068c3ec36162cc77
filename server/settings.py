"""All settings in one pydantic model: CLI flags > ``MODELDECK_*`` env vars > defaults.

The seed's plain ``PORT`` and ``CORS_ORIGIN`` env vars are honoured too. List settings
(``allowed_hosts``) read a comma-separated env var or a repeated CLI flag.
"""

from __future__ import annotations

import ipaddress
from pathlib import Path
from typing import Annotated, Literal

from cryptography.fernet import Fernet
from pydantic import AliasChoices, Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from events.names import Format


def _env(name: str, *extra: str) -> AliasChoices:
    """The prefixed env var first, then the seed's plain one (the field name still works)."""
    return AliasChoices(f"MODELDECK_{name.upper()}", *extra)


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="MODELDECK_", populate_by_name=True, extra="ignore", case_sensitive=False
    )

    host: str = "127.0.0.1"
    port: int = Field(3002, ge=0, le=65535, validation_alias=_env("port", "PORT"))
    db: Path = Path("modeldeck.db")
    ollama_url: str = "http://127.0.0.1:11434"
    token: SecretStr | None = None
    #: Origins whose pages may call the API, the socket and the router (none by default).
    cors_origin: str = Field("", validation_alias=_env("cors_origin", "CORS_ORIGIN"))
    #: ``Host`` values accepted besides loopback names and the bound address.
    allowed_hosts: Annotated[list[str], NoDecode] = Field(default_factory=list)
    allow_link_local_upstreams: bool = False
    no_seed: bool = False
    insecure: bool = False
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    secret_key: SecretStr | None = None
    max_body_bytes: int = Field(1024 * 1024, ge=1024)
    ws_compression: bool = False
    #: The event format of a connection that does not name one in ``auth.format``.
    event_format: Format = Format.FULL
    # Pre-framed writes and the hardened transport (server/realtime/engine.py); off:
    # python-socketio's and engine.io's stock delivery, as when the start-up check fails.
    fast_path: bool = True
    client_queue_messages: int = Field(5_000, ge=10)
    client_queue_bytes: int = Field(64 * 1024 * 1024, ge=64 * 1024)
    event_retention: int = Field(10_000, ge=1)
    pull_workers: int = Field(2, ge=1, le=16)
    shutdown_timeout: float = Field(3.0, ge=0)
    socket_connect_timeout: float = Field(45.0, gt=0)  # engine.io session → Socket.IO CONNECT
    socket_ping_interval: float = Field(25.0, gt=0)  # engine.io's (and Node's) defaults
    socket_ping_timeout: float = Field(20.0, gt=0)
    proxy_config: Path | None = None
    proxy_log_dir: Path | None = None
    proxy_autostart: bool = False
    router_port: int = Field(3001, ge=0, le=65535)
    #: Server processes sharing the port (``server.workers``); 1: this process serves.
    workers: int = Field(1, ge=1, le=64)
    #: How /health, /metrics and the logs name this process (default ``host:pid``).
    process_name: str | None = Field(None, max_length=100)
    router_timeout: float = Field(300.0, gt=0)
    router_max_body_bytes: int = Field(32 * 1024 * 1024, ge=1024)

    @field_validator("log_level", mode="before")
    @classmethod
    def _upper(cls, value: object) -> object:
        return value.upper() if isinstance(value, str) else value

    @field_validator("token", "secret_key", mode="after")
    @classmethod
    def _empty_is_none(cls, value: SecretStr | None) -> SecretStr | None:
        return value if value is not None and value.get_secret_value() else None

    @field_validator("secret_key", mode="after")
    @classmethod
    def _fernet_key(cls, value: SecretStr | None) -> SecretStr | None:
        """A malformed key is a one-line start-up error, never a traceback at first use."""
        if value is not None:
            try:
                Fernet(value.get_secret_value())
            except (ValueError, TypeError):
                raise ValueError(
                    "MODELDECK_SECRET_KEY is not a valid key (32 url-safe base64-encoded "
                    "bytes, as `python -c 'from cryptography.fernet import Fernet; "
                    "print(Fernet.generate_key().decode())'` prints)"
                ) from None
        return value

    @field_validator("allowed_hosts", mode="before")
    @classmethod
    def _split_hosts(cls, value: object) -> object:
        """``a,b`` from the environment, or a list/tuple of possibly comma-joined names."""
        if isinstance(value, str):
            value = [value]
        if isinstance(value, list | tuple):
            return [h.strip() for item in value for h in str(item).split(",") if h.strip()]
        return value

    @property
    def cors_origins(self) -> list[str]:
        """The allowed origins (comma-separated); empty: same-origin pages only."""
        return [o.strip().rstrip("/") for o in self.cors_origin.split(",") if o.strip()]

    @property
    def key_file(self) -> Path:
        return self.db.with_name(self.db.name + ".key")

    @property
    def proxy_logs(self) -> Path:
        """Where supervised processes' log files go (default: ``<db>.logs/`` beside the db)."""
        return self.proxy_log_dir or self.db.with_name(self.db.name + ".logs")

    def is_loopback(self) -> bool:
        if self.host == "localhost":
            return True
        try:
            return ipaddress.ip_address(self.host).is_loopback
        except ValueError:
            return False

    def check_bind_safety(self) -> None:
        """Refuse to expose an unauthenticated control plane beyond this machine,
        or to every web page the user visits (``--cors-origin '*'``)."""
        if not self.is_loopback() and self.token is None and not self.insecure:
            raise ValueError(
                f"refusing to bind {self.host} without a token: set MODELDECK_TOKEN "
                "(or --token), or pass --insecure to accept unauthenticated access"
            )
        if "*" in self.cors_origins and self.token is None and not self.insecure:
            raise ValueError(
                "refusing --cors-origin '*' without a token: any web page could read and "
                "write the registry; name the origins, set MODELDECK_TOKEN, or pass --insecure"
            )
