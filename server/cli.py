"""The ``modeldeck`` command (also ``python -m server``)."""

from __future__ import annotations

import asyncio
import errno
import gc
import logging
import os
import socket
import sys
from pathlib import Path
from typing import Any

import click
from aiohttp import web
from pydantic import ValidationError

from server.admin.cli import register_admin_commands
from server.settings import Settings
from server.workers import port_in_use, run_workers, worker_index
from storage.secret_key import SecretKeyError


def _install_fast_loop() -> bool:
    """Use uvloop when the optional ``fast`` extra is installed."""
    try:
        import uvloop
    except ImportError:
        return False
    asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
    return True


def load_settings(**given: Any) -> Settings:
    """Settings from CLI flags (those given), then env vars, then defaults."""
    overrides = {k: v for k, v in given.items() if v is not None and v is not False and v != ()}
    try:
        return Settings(**overrides)
    except ValidationError as exc:
        err = exc.errors()[0]
        field = ".".join(str(p) for p in err["loc"])
        message = f"invalid setting {field}: {err['msg']}"
        if field == "secret_key":  # only ever from the environment: no usage text
            raise click.ClickException(message) from None
        raise click.UsageError(message) from exc


@click.group(invoke_without_command=True)
@click.version_option(package_name="modeldeck", prog_name="modeldeck")
@click.pass_context
def main(ctx: click.Context) -> None:
    """modeldeck: live control plane for AI providers, models and a local Ollama."""
    if ctx.invoked_subcommand is None:
        ctx.invoke(serve)


@main.command()
@click.option("--host", help="Interface to bind (default 127.0.0.1).")
@click.option("--port", type=int, help="Port (default 3002; env PORT too).")
@click.option("--db", type=click.Path(path_type=Path), help="SQLite file (default ./modeldeck.db).")
@click.option("--ollama-url", help="Ollama base URL (default http://127.0.0.1:11434).")
@click.option("--token", help="Require this bearer token on /api, /v1 and sockets.")
@click.option("--cors-origin",
              help="Origin(s) whose pages may use the API and socket, comma-separated "
                   "(default: none; env CORS_ORIGIN).")  # fmt: skip
@click.option("--allowed-host", "allowed_hosts", multiple=True,
              help="Also answer this Host name (repeatable; .example.com: and subdomains).")
@click.option("--allow-link-local-upstreams", is_flag=True,
              help="Allow provider baseUrls on link-local/cloud-metadata addresses.")
@click.option("--no-seed", is_flag=True, help="Do not create the first-start seed models.")
@click.option("--insecure", is_flag=True, help="Allow a non-loopback host without a token.")
@click.option("--log-level", type=click.Choice(["DEBUG", "INFO", "WARNING", "ERROR"], False))
@click.option("--ws-compression", is_flag=True, help="Deflate websocket frames (off: CPU).")
@click.option("--event-format", type=click.Choice(["full", "delta"]),
              help="Format of sockets that do not set auth.format (default full).")
@click.option("--no-fast-path", is_flag=True,
              help="Stock python-socketio/engine.io delivery (slower).")  # fmt: skip
@click.option("--event-retention", type=int, help="Events kept for replay (default 10000).")
@click.option("--pull-workers", type=int, help="Concurrent Ollama pulls (default 2).")
@click.option("--proxy-config", type=click.Path(path_type=Path, exists=True, dir_okay=False),
              help="TOML/JSON file of proxy processes to supervise.")  # fmt: skip
@click.option("--router-port", type=int, help="Port of the built-in router (default 3001).")
@click.option("--workers", type=int,
              help="Server processes sharing the port (default 1; websocket clients only "
                   "when more than 1).")  # fmt: skip
@click.option("--process-name", help="How /health and /metrics name this process (host:pid).")
@click.option("--proxy-autostart", is_flag=True, help="Start the proxy processes at start-up.")
def serve(**options: Any) -> None:
    """Run the server (REST + Socket.IO) until SIGTERM/SIGINT."""
    from server.app import create_app

    no_fast_path = options.pop("no_fast_path")
    settings = load_settings(**options)
    if settings.router_port == 0:  # the supervisor probes the router on a known port
        raise click.UsageError(
            "invalid setting router_port: the built-in router needs a fixed port (1-65535)"
        )
    if no_fast_path:
        settings = settings.model_copy(update={"fast_path": False})
    worker = worker_index()
    try:
        settings.check_bind_safety()
        if worker is None and settings.workers > 1:
            sys.exit(_run_workers(settings))
        if worker is not None and settings.process_name is None:
            name = f"{socket.gethostname()}:{os.getpid()}/w{worker}"
            settings = settings.model_copy(update={"process_name": name})
        app = create_app(settings)
    except ValueError as exc:
        raise click.UsageError(str(exc)) from exc
    logging.basicConfig(
        level=settings.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    # Bind before anything starts (database, pulls, proxy children): a port in use is
    # one line and exit 1, and nothing is left half started.
    try:
        sock = listening_socket(settings.host, settings.port, reuse_port=worker is not None)
    except OSError as exc:
        where = f"{settings.host}:{settings.port}"
        click.echo(f"error: cannot listen on {where}: {_why(exc)}", err=True)
        sys.exit(1)
    key_generated = settings.secret_key is None and not settings.key_file.exists()
    fast = _install_fast_loop()

    def ready(*_: Any) -> None:
        """Called by ``run_app`` once the app has started and the socket accepts."""
        # What start-up allocated (modules, schemas, the registry mirror) lives as long
        # as the process: keep it out of the collector's full passes, each of which
        # would otherwise stall every client's deliveries for tens of milliseconds.
        gc.freeze()
        # The collector's default young-generation threshold (700) runs it several times
        # per write; each run moves whatever a write has in flight into the oldest
        # generation, and with 1,000 clients that brought a 50-80 ms full pass every
        # ~20 s at 10 writes/s (bench/gc_pauses.py). At 10,000 none ran under that load.
        gc.set_threshold(10_000, 10, 10)
        logging.getLogger("modeldeck").info(
            "%s", ready_line(settings, sock, key_generated=key_generated, fast=fast)
        )

    try:
        web.run_app(
            app,
            sock=sock,
            shutdown_timeout=settings.shutdown_timeout,
            access_log=None,
            print=ready,
            handle_signals=True,
        )
    except SecretKeyError as exc:
        raise click.ClickException(str(exc)) from None
    sys.exit(0)


def listening_socket(host: str, port: int, *, reuse_port: bool = False) -> socket.socket:
    """A bound, listening TCP socket for ``host:port`` (IPv4 first for names like localhost);
    ``reuse_port`` for the workers of ``--workers N``, which share one port."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    infos.sort(key=lambda info: info[0] != socket.AF_INET)
    family, _, _, _, address = infos[0]
    sock = socket.create_server(address[:2], family=family, backlog=128, reuse_port=reuse_port)
    sock.setblocking(False)
    return sock


def _why(exc: OSError) -> str:
    if exc.errno == errno.EADDRINUSE:
        return "address already in use (another process has this port; pick one with --port)"
    if isinstance(exc, socket.gaierror):
        return f"unknown host ({exc.strerror})"
    return exc.strerror or str(exc)


def ready_line(settings: Settings, sock: socket.socket, *, key_generated: bool, fast: bool) -> str:
    """What the server prints once it serves: where, with what, and what it just created."""
    host, port = sock.getsockname()[:2]
    shown = f"[{host}]" if ":" in host else host
    base = f"http://{shown}:{port}"
    line = (
        f"modeldeck ready on {base} (db {settings.db}, event loop "
        f"{'uvloop' if fast else 'asyncio'}); dashboard {base}/, live event page "
        f"{base}/test-client"
    )
    if key_generated:
        line += (
            f"; new secret key file {settings.key_file} (back it up with the database)"
        )
    return line


def _run_workers(settings: Settings) -> int:
    """The parent of ``--workers N``: a one-line error if the port is taken, else run them."""
    if settings.port == 0:
        raise click.UsageError("--workers needs a fixed --port (not 0)")
    problem = port_in_use(settings.host, settings.port)
    if problem is not None:
        raise click.ClickException(f"cannot listen on {settings.host}:{settings.port}: {problem}")
    logging.basicConfig(
        level=settings.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    return run_workers(settings.workers)


@main.command()
@click.option("--host", help="Interface to bind (default 127.0.0.1).")
@click.option("--port", "router_port", type=int, help="Port (default 3001).")
@click.option("--db", type=click.Path(path_type=Path), help="SQLite file of the registry.")
@click.option("--token", help="Require this bearer token (the clients' API key) on /v1.")
@click.option("--cors-origin", help="Origin(s) whose pages may call /v1, comma-separated.")
@click.option("--allowed-host", "allowed_hosts", multiple=True,
              help="Also answer this Host name (repeatable).")
@click.option("--allow-link-local-upstreams", is_flag=True,
              help="Forward to link-local/cloud-metadata addresses.")
@click.option("--insecure", is_flag=True, help="Allow a non-loopback host without a token.")
@click.option("--log-level", type=click.Choice(["DEBUG", "INFO", "WARNING", "ERROR"], False))
def router(**options: Any) -> None:
    """Run the OpenAI-compatible router over the registry in --db until SIGTERM/SIGINT."""
    from server.router.app import run_router

    settings = load_settings(**options)
    try:
        settings.check_bind_safety()
    except ValueError as exc:
        raise click.UsageError(str(exc)) from exc
    if not settings.db.exists():
        raise click.UsageError(f"no database at {settings.db}: start `modeldeck serve` first")
    logging.basicConfig(
        level=settings.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    _install_fast_loop()
    run_router(settings)


register_admin_commands(main)
