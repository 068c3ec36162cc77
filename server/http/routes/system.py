"""REST: /health, /openapi.json and the proxy status."""

from __future__ import annotations

import time
from importlib.metadata import PackageNotFoundError, version

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST

from server.http.api import RouteTable, json_response
from server.http.openapi import build_openapi
from server.keys import (
    BUS,
    DATABASE,
    HUB,
    INSTANCE,
    LEASE,
    METRICS,
    OLLAMA_HEALTH,
    PROXY,
    REGISTRY_CACHE,
    ROUTE_SPECS,
    SETTINGS,
    STARTED_AT,
)
from server.registry.status import current_proxy_status

api = RouteTable("system")


def modeldeck_version() -> str:
    try:
        return version("modeldeck")
    except PackageNotFoundError:
        return "0.0.0"


@api.get("/health", summary="Liveness and dependencies (no auth)", auth=False)
async def health(request: web.Request) -> web.Response:
    """503 and ``status: degraded`` while the database cannot be written; ``db`` says why."""
    app = request.app
    db_problem = await app[DATABASE].problem()
    db_ok = db_problem is None
    ollama = "unknown"
    checker = app.get(OLLAMA_HEALTH)
    if checker is not None:
        ollama = "up" if await checker() else "down"
    return json_response(
        {
            "status": "ok" if db_ok else "degraded",
            "db": db_problem or "ok",  # what is wrong, in words, when it is not ok
            "ollama": ollama,
            "version": modeldeck_version(),
            "uptimeSeconds": round(time.monotonic() - app[STARTED_AT], 3),
            "clients": app[HUB].client_count,
            # Which of the processes sharing the database answered, and how far it has
            # delivered the event log to its clients.
            "process": {
                "id": app[INSTANCE].id,
                "name": app[INSTANCE].name,
                "pid": app[INSTANCE].pid,
                "deliveredSeq": app[BUS].delivered_seq,
                "supervisesProxies": app[LEASE].held,
            },
        },
        status=200 if db_ok else 503,
    )


@api.get("/api/proxy/status", summary="Proxy processes and registry summary")
async def proxy_status(request: web.Request) -> web.Response:
    app = request.app
    return json_response(await current_proxy_status(app[REGISTRY_CACHE], app[PROXY], app[BUS]))


@api.get("/openapi.json", summary="This document")
async def openapi(request: web.Request) -> web.Response:
    app = request.app
    document = build_openapi(
        app[ROUTE_SPECS],
        version=modeldeck_version(),
        token_required=app[SETTINGS].token is not None,
    )
    return json_response(document)


@api.get("/metrics", summary="Prometheus metrics (text format)")
async def metrics(request: web.Request) -> web.Response:
    body = request.app[METRICS].render()
    return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})
