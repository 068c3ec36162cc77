"""REST: start and stop the supervised proxy processes, and read their output.

``GET /api/proxy/status`` lives with the other status routes (``routes.system``).
Start and stop answer with that same payload once the processes have settled: start
returns when each chosen process answers on its port or has failed (503 naming the
failure, with the process's last output), so a script can rely on the status code.
They work through any process sharing the database: the one holding the supervision
lease acts (``server.supervisor.lease``).
"""

from __future__ import annotations

from aiohttp import web
from pydantic import Field

from server.errors import Unavailable
from server.http.api import RouteTable, json_response
from server.http.responses import ProcessLog, ProxyStatusView
from server.http.schemas import Query
from server.keys import BUS, LEASE, PROXY, SUPERVISOR
from server.registry.status import current_proxy_status

api = RouteTable("proxy")


class ProxyTarget(Query):
    """Which process to act on; all configured processes when omitted."""

    name: str | None = Field(None, max_length=64)


class LogQuery(Query):
    tail: int = Field(100, ge=1, le=10_000)


@api.post(
    "/api/proxy/start", summary="Start proxy processes (idempotent; waits until up)",
    query=ProxyTarget, response=ProxyStatusView,
    also={503: ("A process failed to start (its name and last output)", None)},
)  # fmt: skip
async def start(request: web.Request, query: ProxyTarget) -> web.Response:
    app = request.app
    failed = await app[LEASE].start(query.name)
    if failed:
        raise Unavailable(
            "\n".join(message for _, message in failed),
            details={"failed": [name for name, _ in failed]},
        )
    return json_response(await current_proxy_status(app[BUS], app[PROXY]))


@api.post(
    "/api/proxy/stop",
    summary="Stop proxy processes (SIGTERM, then SIGKILL)",
    query=ProxyTarget,
    response=ProxyStatusView,
)
async def stop(request: web.Request, query: ProxyTarget) -> web.Response:
    app = request.app
    await app[LEASE].stop(query.name)
    return json_response(await current_proxy_status(app[BUS], app[PROXY]))


@api.get(
    "/api/proxy/logs/{name}",
    summary="Last lines a proxy process wrote",
    query=LogQuery,
    response=ProcessLog,
)
async def logs(request: web.Request, query: LogQuery) -> web.Response:
    process = request.app[SUPERVISOR].get(request.match_info["name"])
    lines = process.output.tail(query.tail)
    return json_response(
        ProcessLog(name=process.spec.name, file=str(process.output.path), lines=lines)
    )
