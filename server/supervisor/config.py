"""Which proxy processes the supervisor runs: the built-in router plus ``--proxy-config``.

The config file is TOML (``.toml``) or JSON, with one table per process under
``processes``; keys are camelCase or snake_case, and ``{port}`` in ``command``,
``healthUrl`` or ``env`` values is replaced by the process's port::

    [processes.qwenProxy]
    command = ["node", "qwen-proxy/index.js", "--port", "{port}"]
    port = 3003
    healthUrl = "http://127.0.0.1:{port}/health"   # optional; else the port must answer
    healthInterval = 5                               # re-probe while running (0: off)
    env = { QWEN_REGION = "intl" }
    restart = { maxCrashes = 5, window = 60, backoffInitial = 0.5, backoffMax = 30 }

A table named ``providerRouter`` changes the built-in router (its port, say), and
``enabled = false`` leaves a process out.
"""

from __future__ import annotations

import json
import os
import shlex
import sys
import tomllib
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator
from pydantic.alias_generators import to_camel, to_snake

from server.settings import Settings

ROUTER_NAME = "providerRouter"
PARENT_PID_ENV = "MODELDECK_PARENT_PID"

#: Top-level keys of the ``proxy:status`` payload a process name must not shadow.
RESERVED_NAMES = frozenset(
    {"status", "providers", "models", "credentials", "message", "timestamp", "seq"}
)


#: Hosts that mean "every interface": probe them on loopback.
WILDCARD_HOSTS = frozenset({"0.0.0.0", "::", "", "localhost"})


class ProxyConfigError(ValueError):
    """The proxy config file cannot be read or does not describe valid processes."""


class _Config(BaseModel):
    model_config = ConfigDict(
        alias_generator=to_camel, populate_by_name=True, extra="forbid", frozen=True
    )


class RestartPolicy(_Config):
    """Restart after a crash, waiting ``backoffInitial`` doubled per crash up to
    ``backoffMax``; give up once more than ``maxCrashes`` happen within ``window`` s."""

    enabled: bool = True
    backoff_initial: float = Field(default=0.5, gt=0)
    backoff_max: float = Field(default=30.0, gt=0)
    max_crashes: int = Field(default=5, ge=0)
    window: float = Field(default=60.0, gt=0)

    def delay(self, crashes: int) -> float:
        """Seconds to wait before the restart that follows the ``crashes``-th crash."""
        return min(self.backoff_initial * 2.0 ** max(crashes - 1, 0), self.backoff_max)


class ProcessSpec(_Config):
    """One supervised process. It must serve ``port`` itself: the supervisor execs
    ``command`` directly (no shell), so the pid it reports is the one on the port."""

    name: str = Field(pattern=r"^[A-Za-z][A-Za-z0-9_-]{0,63}$")
    command: list[str] = Field(min_length=1)
    port: int = Field(ge=1, le=65535)
    host: str = "127.0.0.1"
    health_url: str | None = None
    cwd: Path | None = None
    env: dict[str, str] = Field(default_factory=dict)
    start_timeout: float = Field(default=15.0, gt=0)
    stop_grace: float = Field(default=5.0, ge=0)
    #: While running, probe every this many seconds (0: never); a process that fails
    #: ``health_failures`` probes in a row is hung: it is ended and restarted.
    health_interval: float = Field(default=5.0, ge=0)
    health_failures: int = Field(default=3, ge=1)
    restart: RestartPolicy = Field(default_factory=lambda: RestartPolicy())
    enabled: bool = True

    @field_validator("command", mode="before")
    @classmethod
    def _split(cls, value: object) -> object:
        return shlex.split(value) if isinstance(value, str) else value

    @field_validator("name")
    @classmethod
    def _not_reserved(cls, value: str) -> str:
        if value in RESERVED_NAMES:
            raise ValueError(f"'{value}' is a proxy:status field; choose another name")
        return value

    def _fill(self, text: str) -> str:
        return text.replace("{port}", str(self.port))

    @property
    def argv(self) -> list[str]:
        return [self._fill(arg) for arg in self.command]

    @property
    def health(self) -> str | None:
        return self._fill(self.health_url) if self.health_url else None

    @property
    def environment(self) -> dict[str, str]:
        """Extra environment: ``PORT`` (a common convention) and the configured ``env``."""
        return {"PORT": str(self.port)} | {k: self._fill(v) for k, v in self.env.items()}


def router_spec(settings: Settings) -> ProcessSpec:
    """``modeldeck router`` on ``settings.router_port``, reading the same database.

    It binds the server's host and shares its token, so the router is exactly as
    reachable and as protected as the control plane. ``sys.executable -m server``
    works without ``modeldeck`` on PATH. Secrets given to this server as settings (not
    only as env vars) are handed on through the environment, never the command line.
    """
    env: dict[str, str] = {
        "MODELDECK_LOG_LEVEL": settings.log_level,
        # The same browser-safety rules as the server's (set even when empty, so a
        # CORS_ORIGIN in the inherited environment cannot widen them).
        "MODELDECK_CORS_ORIGIN": settings.cors_origin,
        "MODELDECK_ALLOWED_HOSTS": ",".join(settings.allowed_hosts),
        # The router exits when this process is gone, even after a kill -9 of it.
        PARENT_PID_ENV: str(os.getpid()),
    }
    if settings.secret_key is not None:
        env["MODELDECK_SECRET_KEY"] = settings.secret_key.get_secret_value()
    if settings.token is not None:
        env["MODELDECK_TOKEN"] = settings.token.get_secret_value()
    command = [
        sys.executable, "-m", "server", "router",
        "--db", str(settings.db.resolve()), "--host", settings.host, "--port", "{port}",
    ]  # fmt: skip
    if settings.insecure:
        command.append("--insecure")
    if settings.allow_link_local_upstreams:
        command.append("--allow-link-local-upstreams")
    probe = "127.0.0.1" if settings.host in WILDCARD_HOSTS else settings.host
    url_host = f"[{probe}]" if ":" in probe else probe
    return ProcessSpec(
        name=ROUTER_NAME,
        command=command,
        port=settings.router_port,
        host=probe,
        health_url=f"http://{url_host}:{{port}}/health",
        env=env,
    )


def read_config_file(path: Path) -> dict[str, Any]:
    try:
        if path.suffix.lower() == ".toml":
            with path.open("rb") as handle:
                data: Any = tomllib.load(handle)
        else:
            data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError, json.JSONDecodeError) as exc:
        raise ProxyConfigError(f"proxy config {path}: {exc}") from exc
    processes = data.get("processes", {}) if isinstance(data, dict) else None
    if not isinstance(processes, dict) or not all(isinstance(v, dict) for v in processes.values()):
        raise ProxyConfigError(f"proxy config {path}: 'processes' must be a table of tables")
    return processes


def load_process_specs(settings: Settings) -> list[ProcessSpec]:
    """The built-in router, changed or joined by the processes of ``settings.proxy_config``."""
    entries: dict[str, dict[str, Any]] = {
        ROUTER_NAME: router_spec(settings).model_dump(exclude_defaults=True)
    }
    if settings.proxy_config is not None:
        for name, given in read_config_file(settings.proxy_config).items():
            table = {to_snake(key): value for key, value in given.items()}
            base = entries.get(name, {})
            # A table that replaces the router's command drops its health URL too,
            # unless it gives one: the new command may not serve /health.
            if "command" in table and name == ROUTER_NAME:
                base = {k: v for k, v in base.items() if k not in ("health_url", "command")}
            entries[name] = base | table | {"name": name}
    specs: list[ProcessSpec] = []
    for name, entry in entries.items():
        try:
            spec = ProcessSpec.model_validate(entry)
        except ValidationError as exc:
            err = exc.errors()[0]
            field = ".".join(str(p) for p in err["loc"])
            raise ProxyConfigError(f"proxy process '{name}': {field}: {err['msg']}") from exc
        if spec.enabled:
            specs.append(spec)
    ports = [s.port for s in specs]
    if len(ports) != len(set(ports)):
        raise ProxyConfigError(f"proxy processes share a port: {sorted(ports)}")
    return specs
