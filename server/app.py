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

import aiohttp_cors
from aiohttp import web

from events.bus import EventBus
from server import (
    routes_credentials,
    routes_dashboard,
    routes_events,
    routes_models,
    routes_ollama,
    routes_providers,
    routes_proxy,
    routes_registry,
    routes_system,
    routes_test_client,
)
from server.catch_up import missed_events
from server.http_api import RouteSpec
from server.keys import (
    BUS,
    DATABASE,
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
from server.status import current_proxy_status
from server.supervisor import Supervisor, supervisor_context
from storage import event_log
from storage.database import Database
from storage.records import LoggedEvent
from storage.secrets import SecretBox

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
    routes_dashboard.api,
)


def create_app(settings: Settings) -> web.Application:
    app = web.Application(middlewares=[request_pipeline], client_max_size=settings.max_body_bytes)
    app[SETTINGS] = settings
    app[STARTED_AT] = time.monotonic()
    supervisor = Supervisor.from_settings(settings)
    app[SUPERVISOR] = supervisor
    app[PROXY] = supervisor

    hub = SocketHub(settings)
    app[HUB] = hub
    app[METRICS] = Metrics(hub)
    hub.sio.attach(app)

    specs: list[RouteSpec] = [spec for table in ROUTE_TABLES for spec in table.specs]
    app[ROUTE_SPECS] = specs
    routes = [route for table in ROUTE_TABLES for route in table.add_to(app)]
    _setup_cors(app, settings, routes)

    app.cleanup_ctx.append(storage_context)
    app.cleanup_ctx.append(ollama_context)
    app.cleanup_ctx.append(pull_pool_context)
    app.cleanup_ctx.append(supervisor_context)
    app.on_shutdown.append(close_sockets)
    return app


def _setup_cors(app: web.Application, settings: Settings, routes: list[web.AbstractRoute]) -> None:
    """CORS for our REST routes only: socket.io answers its own preflights (same origins)."""
    options = aiohttp_cors.ResourceOptions(  # type: ignore[no-untyped-call]
        allow_credentials=True, expose_headers="*", allow_headers="*", allow_methods="*"
    )
    cors = aiohttp_cors.setup(app, defaults={o: options for o in settings.cors_origins})
    for route in routes:
        cors.add(route)


def _secret_box(settings: Settings) -> SecretBox:
    if settings.secret_key is not None:
        return SecretBox(settings.secret_key.get_secret_value())
    return SecretBox.from_key_file(settings.key_file)


async def storage_context(app: web.Application) -> AsyncIterator[None]:
    """Database, registry service, read cache and event bus, in that order."""
    settings = app[SETTINGS]
    db = Database(settings.db, _secret_box(settings), event_retention=settings.event_retention)
    await db.open()
    if db.migrations_applied:
        log.info("database %s migrated: %s", settings.db, ", ".join(db.migrations_applied))
    try:
        if not settings.no_seed:
            await seed_once(db)
        cache = RegistryCache(db)
        bus = EventBus(app[HUB], last_seq=await event_log.current_seq(db))

        def on_commit(events: list[LoggedEvent]) -> None:
            cache.invalidate()
            bus.publish(events)

        db.on_commit = on_commit  # type: ignore[assignment]
        bus.start()

        async def greeting() -> dict[str, Any]:
            return await current_proxy_status(app)

        async def missed(last_seq: int, upper: int, topics: list[str]) -> Any:
            return await missed_events(db, last_seq, upper, topics)

        app[HUB].bind(greeting=greeting, missed=missed, current_seq=lambda: bus.delivered_seq)
        app[DATABASE] = db
        app[BUS] = bus
        app[REGISTRY_CACHE] = cache
        registry = RegistryService(db, app[PROXY])
        app[REGISTRY] = registry
        register_socket_requests(app[HUB], registry)
        yield
        await bus.stop(timeout=settings.shutdown_timeout)
    finally:
        await db.close()


async def close_sockets(app: web.Application) -> None:
    await app[HUB].close(timeout=app[SETTINGS].shutdown_timeout)
