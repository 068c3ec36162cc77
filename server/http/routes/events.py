"""REST: /api/events — the event log, for scripts that catch up without a socket."""

from __future__ import annotations

from typing import Annotated

import orjson
from aiohttp import web
from pydantic import Field

from server.http.api import RouteTable, json_response
from server.http.responses import LoggedEventView
from server.http.schemas import Query
from server.keys import DATABASE
from storage import event_log

api = RouteTable("events")


class EventsQuery(Query):
    since: Annotated[int, Field(ge=0, le=2**63 - 1)] = 0
    limit: Annotated[int, Field(ge=1, le=1000)] = 100


@api.get(
    "/api/events",
    summary="Logged events with seq > since, oldest first, paged by limit",
    query=EventsQuery,
    response=list[LoggedEventView],
)
async def list_events(request: web.Request, query: EventsQuery) -> web.Response:
    events = await event_log.since(request.app[DATABASE], query.since, limit=query.limit)
    return json_response(
        [
            {"seq": e.seq, "event": e.event, "data": orjson.Fragment(e.payload_json())}
            for e in events
        ]
    )
