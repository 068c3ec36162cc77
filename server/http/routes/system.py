"""REST: /health, /openapi.json, /asyncapi.json and the proxy status."""

from __future__ import annotations

import time
from importlib.metadata import PackageNotFoundError, version
from typing import Any, Literal

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST

from server.http.api import RouteTable, json_response
from server.http.openapi import build_openapi
from server.http.responses import Health, ProcessView, ProxyStatusView
from server.keys import (
    BUS,
    DATABASE,
    HUB,
    INSTANCE,
    LEASE,
    METRICS,
    OLLAMA_HEALTH,
    PROXY,
    ROUTE_SPECS,
    SETTINGS,
    STARTED_AT,
)
from server.realtime.asyncapi import build_asyncapi
from server.registry.status import current_proxy_status

api = RouteTable("system")


def modeldeck_version() -> str:
    try:
        return version("modeldeck")
    except PackageNotFoundError:
        return "0.0.0"


@api.get(
    "/health",
    summary="Liveness and dependencies (no auth)",
    auth=False,
    response=Health,
    also={503: ("The database cannot be written", Health)},
)
async def health(request: web.Request) -> web.Response:
    """503 and ``status: degraded`` while the database cannot be written; ``db`` says why."""
    app = request.app
    db_problem = await app[DATABASE].problem()
    db_ok = db_problem is None
    ollama: Literal["up", "down", "unknown"] = "unknown"
    checker = app.get(OLLAMA_HEALTH)
    if checker is not None:
        ollama = "up" if await checker() else "down"
    return json_response(
        Health(
            status="ok" if db_ok else "degraded",
            db=db_problem or "ok",  # what is wrong, in words, when it is not ok
            ollama=ollama,
            version=modeldeck_version(),
            uptime_seconds=round(time.monotonic() - app[STARTED_AT], 3),
            clients=app[HUB].client_count,
            # Which of the processes sharing the database answered, and how far it has
            # delivered the event log to its clients.
            process=ProcessView(
                id=app[INSTANCE].id,
                name=app[INSTANCE].name,
                pid=app[INSTANCE].pid,
                delivered_seq=app[BUS].delivered_seq,
                supervises_proxies=app[LEASE].held,
            ),
        ),
        status=200 if db_ok else 503,
    )


@api.get(
    "/api/proxy/status", summary="Proxy processes and registry summary", response=ProxyStatusView
)
async def proxy_status(request: web.Request) -> web.Response:
    app = request.app
    return json_response(await current_proxy_status(app[BUS], app[PROXY]))


@api.get("/openapi.json", summary="This document", response=dict[str, Any])
async def openapi(request: web.Request) -> web.Response:
    app = request.app
    document = build_openapi(
        app[ROUTE_SPECS],
        version=modeldeck_version(),
        token_required=app[SETTINGS].token is not None,
    )
    return json_response(document)


@api.get("/asyncapi.json", summary="The socket interface as AsyncAPI 3.0", response=dict[str, Any])
async def asyncapi(request: web.Request) -> web.Response:
    app = request.app
    document = build_asyncapi(
        version=modeldeck_version(), token_required=app[SETTINGS].token is not None
    )
    return json_response(document)


@api.get(
    "/metrics", summary="Prometheus metrics (text format)", response=str, media_type="text/plain"
)
async def metrics(request: web.Request) -> web.Response:
    body = request.app[METRICS].render()
    return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})
