"""Declaring REST routes once, for both aiohttp and the OpenAPI document.

``RouteTable`` is like aiohttp's ``RouteTableDef`` but each route also names the
pydantic models of its query string and body, and the type of its success body. The
wrapper validates with exactly those models and passes the parsed objects to the
handler, and handlers serialise through the response type, so the OpenAPI document
generated from the table cannot drift from what the handlers accept and answer.
"""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

import orjson
from aiohttp import web
from pydantic import BaseModel, ValidationError

from server.errors import BadRequest, PayloadTooLarge, UnsupportedMediaType, from_validation_error
from server.http.json_limits import check_depth

Handler = Callable[..., Awaitable[web.StreamResponse]]
M = TypeVar("M", bound=BaseModel)


@dataclass(frozen=True)
class RouteSpec:
    """One route as declared: what it accepts and what it answers.

    ``response`` is the type of the success body (a pydantic model, a record dataclass,
    ``list[...]`` of them; ``str`` for a non-JSON ``media_type``, which may list several
    types separated by ", " for a route that serves files). ``body_doc`` documents
    a body the handler validates itself (config sections depend on the path).
    ``path_params`` gives path parameters a type narrower than a string (an enum).
    ``also`` lists further statuses: ``{status: (description, body type)}``, a body
    type of None meaning the error schema.
    """

    method: str
    path: str
    handler: Handler
    summary: str
    tag: str
    body: type[BaseModel] | None
    query: type[BaseModel] | None
    status: int
    auth: bool
    response: Any = None
    media_type: str = "application/json"
    body_doc: Any = None
    path_params: dict[str, Any] = field(default_factory=dict)
    also: dict[int, tuple[str, Any]] = field(default_factory=dict)


class RouteTable:
    """Routes of one REST area (providers, models, …), with their schemas."""

    def __init__(self, tag: str) -> None:
        self.tag = tag
        self.specs: list[RouteSpec] = []

    def route(
        self,
        method: str,
        path: str,
        *,
        summary: str,
        body: type[BaseModel] | None = None,
        query: type[BaseModel] | None = None,
        status: int = 200,
        auth: bool = True,
        response: Any = None,
        media_type: str = "application/json",
        body_doc: Any = None,
        path_params: dict[str, Any] | None = None,
        also: dict[int, tuple[str, Any]] | None = None,
    ) -> Callable[[Handler], Handler]:
        def register(handler: Handler) -> Handler:
            wrapped = _with_inputs(handler, body, query)
            self.specs.append(
                RouteSpec(
                    method, path, wrapped, summary, self.tag, body, query, status, auth,
                    response, media_type, body_doc, path_params or {}, also or {},
                )
            )  # fmt: skip
            return handler

        return register

    def get(self, path: str, **kw: Any) -> Callable[[Handler], Handler]:
        return self.route("GET", path, **kw)

    def post(self, path: str, **kw: Any) -> Callable[[Handler], Handler]:
        return self.route("POST", path, **kw)

    def put(self, path: str, **kw: Any) -> Callable[[Handler], Handler]:
        return self.route("PUT", path, **kw)

    def patch(self, path: str, **kw: Any) -> Callable[[Handler], Handler]:
        return self.route("PATCH", path, **kw)

    def delete(self, path: str, **kw: Any) -> Callable[[Handler], Handler]:
        return self.route("DELETE", path, **kw)

    def add_to(self, app: web.Application) -> list[web.AbstractRoute]:
        """Register every route; a GET also answers HEAD, as HTTP clients expect."""
        return [
            app.router.add_get(s.path, s.handler)
            if s.method == "GET"
            else app.router.add_route(s.method, s.path, s.handler)
            for s in self.specs
        ]


def _with_inputs(
    handler: Handler, body: type[BaseModel] | None, query: type[BaseModel] | None
) -> Handler:
    @functools.wraps(handler)
    async def wrapper(request: web.Request) -> web.StreamResponse:
        kwargs: dict[str, Any] = {}
        if query is not None:
            kwargs["query"] = parse_query(request, query)
        if body is not None:
            kwargs["body"] = validate(body, await read_json(request))
        return await handler(request, **kwargs)

    return wrapper


async def read_json(request: web.Request) -> Any:
    """The request body as JSON; 415 for another media type, 400 for malformed JSON,
    422 for JSON nested deeper than modeldeck ever stores (``server.json_limits``)."""
    if request.content_type != "application/json":
        raise UnsupportedMediaType(
            f"Content-Type must be application/json, got '{request.content_type or 'none'}'"
        )
    try:
        raw = await request.read()
    except web.HTTPRequestEntityTooLarge as exc:
        raise PayloadTooLarge(
            f"body: larger than the limit of {request.app._client_max_size} bytes"
        ) from exc
    if not raw:
        raise BadRequest("body: a JSON body is required")
    try:
        data = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise BadRequest(f"body: malformed JSON ({exc})") from exc
    check_depth(data)
    return data


def validate(model: type[M], data: Any, *, prefix: str = "") -> M:
    if not isinstance(data, dict):
        raise BadRequest(f"{prefix.rstrip('.') or 'body'}: must be a JSON object")
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise from_validation_error(exc, prefix=prefix) from exc


def parse_query(request: web.Request, model: type[M]) -> M:
    return validate(model, dict(request.query))


def json_response(data: Any, *, status: int = 200) -> web.Response:
    """``data`` as JSON; a pydantic model is dumped by alias (camelCase), as documented."""
    if isinstance(data, BaseModel):
        data = data.model_dump(mode="json", by_alias=True)
    return web.Response(body=orjson.dumps(data), status=status, content_type="application/json")


def raw_json_response(body: bytes, *, status: int = 200) -> web.Response:
    return web.Response(body=body, status=status, content_type="application/json")
