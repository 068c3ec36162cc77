"""``create_app(settings)``: the one place the application is wired together.

Cleanup contexts run in dependency order (storage, then what uses it), so shutdown
runs in reverse; sockets are closed first, in ``on_shutdown``, so that aiohttp never
waits out its shutdown timeout on open websockets.
"""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator
from typing import Any

from aiohttp import web

from events.bus import EventBus
from events.names import Format
from server import (
    routes_credentials,
    routes_events,
    routes_models,
    routes_ollama,
    routes_providers,
    routes_proxy,
    routes_registry,
    routes_system,
    routes_test_client,
    snapshots,
)
from server.browser_guard import BrowserGuard, setup_cors
from server.catch_up import missed_in_format
from server.http_api import RouteSpec
from server.keys import (
    BUS,
    DATABASE,
    GUARD,
    HUB,
    METRICS,
    PROXY,
    REGISTRY,
    REGISTRY_CACHE,
    ROUTE_SPECS,
    SETTINGS,
    STARTED_AT,
    SUPERVISOR,
)
from server.metrics import Metrics
from server.middlewares import request_pipeline
from server.ollama_service import ollama_context
from server.pull_pool import pull_pool_context
from server.registry_cache import RegistryCache
from server.registry_service import RegistryService
from server.seeding import seed_once
from server.settings import Settings
from server.socket_hub import SocketHub
from server.socket_requests import register_socket_requests
from server.supervisor import Supervisor, supervisor_context
from storage.clock import utc_now_iso
from storage.database import Database
from storage.records import LoggedEvent
from storage.secret_key import load_secret_key, record_fingerprint

log = logging.getLogger("modeldeck")

ROUTE_TABLES = (
    routes_system.api,
    routes_providers.api,
    routes_models.api,
    routes_credentials.api,
    routes_registry.api,
    routes_proxy.api,
    routes_events.api,
    routes_ollama.api,
    routes_test_client.api,
)


def create_app(settings: Settings) -> web.Application:
    app = web.Application(middlewares=[request_pipeline], client_max_size=settings.max_body_bytes)
    app[SETTINGS] = settings
    app[GUARD] = BrowserGuard(settings)
    app[STARTED_AT] = time.monotonic()
    supervisor = Supervisor.from_settings(settings)
    app[SUPERVISOR] = supervisor
    app[PROXY] = supervisor

    hub = SocketHub(settings, app[GUARD])
    app[HUB] = hub
    app[METRICS] = Metrics(hub)
    hub.sio.attach(app)

    specs: list[RouteSpec] = [spec for table in ROUTE_TABLES for spec in table.specs]
    app[ROUTE_SPECS] = specs
    routes = [route for table in ROUTE_TABLES for route in table.add_to(app)]
    # REST routes only: socket.io answers its own preflights (same origins).
    setup_cors(app, settings.cors_origins, routes)

    app.cleanup_ctx.append(storage_context)
    app.cleanup_ctx.append(ollama_context)
    app.cleanup_ctx.append(pull_pool_context)
    app.cleanup_ctx.append(supervisor_context)
    app.on_shutdown.append(close_sockets)
    return app


async def storage_context(app: web.Application) -> AsyncIterator[None]:
    """Database, registry service, read cache and event bus, in that order."""
    settings = app[SETTINGS]
    given = settings.secret_key.get_secret_value() if settings.secret_key is not None else None
    key = load_secret_key(settings.db, settings.key_file, given)
    if key.created is not None:
        log.warning(
            "generated the secret key %s: it encrypts stored API keys and credentials; "
            "back it up with the database: losing it loses every stored secret", key.created
        )
    db = Database(settings.db, key.box, event_retention=settings.event_retention)
    await db.open()
    if db.migrations_applied:
        log.info("database %s migrated: %s", settings.db, ", ".join(db.migrations_applied))
    try:
        await record_fingerprint(db, key.fingerprint)
        if not settings.no_seed:
            await seed_once(db)
        cache = RegistryCache(db)
        # Loaded before the bus starts and before any write: the mirror's seq is the log's.
        mirror = await snapshots.load_mirror(db)
        bus = EventBus(app[HUB], mirror, last_seq=mirror.seq)

        def on_commit(events: list[LoggedEvent]) -> None:
            cache.invalidate()
            bus.publish(events)

        db.on_commit = on_commit  # type: ignore[assignment]
        bus.start()

        def greeting() -> tuple[int, bytes]:
            status = snapshots.greeting_status(app[PROXY].snapshot(), utc_now_iso())
            return mirror.seq, mirror.greeting(status)

        async def missed(last_seq: int, upper: int, topics: list[str], fmt: Format) -> Any:
            return await missed_in_format(db, mirror, last_seq, upper, topics, fmt)

        app[HUB].bind(greeting=greeting, missed=missed, current_seq=lambda: mirror.seq)
        app[DATABASE] = db
        app[BUS] = bus
        app[REGISTRY_CACHE] = cache
        registry = RegistryService(
            db, app[PROXY], allow_link_local_upstreams=settings.allow_link_local_upstreams
        )
        app[REGISTRY] = registry
        register_socket_requests(app[HUB], registry)
        yield
        await bus.stop(timeout=settings.shutdown_timeout)
    finally:
        await db.close()


async def close_sockets(app: web.Application) -> None:
    await app[HUB].close(timeout=app[SETTINGS].shutdown_timeout)
