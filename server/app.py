"""``create_app(settings)``: the application, its routes and the order of its resources.

The resources themselves are built in ``server.contexts``. Cleanup contexts run in
dependency order (storage, then what uses it), so shutdown runs in reverse; sockets are
closed first, in ``on_shutdown``, so that aiohttp never waits out its shutdown timeout
on open websockets.
"""

from __future__ import annotations

import time

from aiohttp import web

from server.browser_guard import BrowserGuard, setup_cors
from server.contexts import CLEANUP_CONTEXTS, close_sockets
from server.http.api import RouteSpec
from server.http.middlewares import request_pipeline
from server.http.routes import ROUTE_TABLES
from server.instance import Instance
from server.keys import (
    GUARD,
    HUB,
    INSTANCE,
    METRICS,
    PROXY,
    ROUTE_SPECS,
    SETTINGS,
    STARTED_AT,
    SUPERVISOR,
)
from server.metrics import Metrics
from server.realtime.hub import SocketHub
from server.settings import Settings
from server.supervisor.service import Supervisor


def create_app(settings: Settings) -> web.Application:
    """The whole server; raises ``ValueError`` at once on a bad proxy config."""
    app = web.Application(middlewares=[request_pipeline], client_max_size=settings.max_body_bytes)
    app[SETTINGS] = settings
    app[GUARD] = BrowserGuard(settings)
    app[STARTED_AT] = time.monotonic()
    app[INSTANCE] = Instance.current(settings.process_name)
    supervisor = Supervisor.from_settings(settings)
    app[SUPERVISOR] = supervisor
    app[PROXY] = supervisor  # until storage is open: then the supervision lease

    hub = SocketHub(settings, app[GUARD])
    app[HUB] = hub
    app[METRICS] = Metrics(hub)
    hub.attach(app)

    specs: list[RouteSpec] = [spec for table in ROUTE_TABLES for spec in table.specs]
    app[ROUTE_SPECS] = specs
    routes = [route for table in ROUTE_TABLES for route in table.add_to(app)]
    # REST routes only: socket.io answers its own preflights (same origins).
    setup_cors(app, settings.cors_origins, routes)

    app.cleanup_ctx.extend(CLEANUP_CONTEXTS)
    app.on_shutdown.append(close_sockets)
    return app
