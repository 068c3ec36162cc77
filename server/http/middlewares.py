"""The request middleware: browser safety, bearer-token auth, errors to JSON, one log
line per request (its path only: a query string can carry a token)."""

from __future__ import annotations

import logging
import time

from aiohttp import web
from aiohttp.typedefs import Handler

from server.auth import token_matches
from server.errors import (
    MethodNotAllowed,
    PayloadTooLarge,
    ResourceNotFound,
    ServiceError,
    Unauthorized,
    to_service_error,
)
from server.http.api import json_response
from server.keys import GUARD, METRICS, SETTINGS

log = logging.getLogger("modeldeck.http")

PROTECTED_PREFIXES = ("/api/", "/v1/", "/openapi.json", "/asyncapi.json", "/metrics")


def error_response(error: ServiceError) -> web.Response:
    return json_response(error.body(), status=error.status)


@web.middleware
async def request_pipeline(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Browser checks, auth, then the handler; failures become JSON errors; one log line
    and metric each.

    One middleware rather than three: a websocket keeps its request's whole middleware
    chain suspended for the life of the connection, so every layer costs memory per
    connected client.
    """
    started = time.perf_counter()
    try:
        request.app[GUARD].check(
            request.method,
            request.headers,
            has_body=request.body_exists,
            content_type=request.content_type,
            # engine.io's polling POSTs have their own content types; Host and Origin
            # still apply to /socket.io/ (the Origin check is what keeps pages out).
            check_body=not request.path.startswith("/socket.io/"),
        )
        check_token(request)
        response = await handler(request)
    except web.HTTPException as exc:
        response = _http_error(request, exc)
    except Exception as exc:
        error = to_service_error(exc)
        if error.code == ServiceError.code:  # not a known error: a bug worth a traceback
            log.exception("unhandled error on %s %s", request.method, request.path)
        response = error_response(error)
    request.app[METRICS].observe(request, response.status, started)
    log.info(
        "%s %s %d %.1fms",
        request.method,
        request.path,
        response.status,
        (time.perf_counter() - started) * 1000,
    )
    return response


def _http_error(request: web.Request, exc: web.HTTPException) -> web.StreamResponse:
    """aiohttp's own 404/405/413 as our JSON errors; anything else passes unchanged."""
    if exc.status == 404 and not request.path.startswith("/socket.io"):
        return error_response(ResourceNotFound(f"No route for {request.method} {request.path}"))
    if exc.status == 405:
        response = error_response(
            MethodNotAllowed(f"Method {request.method} not allowed on {request.path}")
        )
        # RFC 9110: a 405 lists the methods the resource does support.
        if isinstance(exc, web.HTTPMethodNotAllowed):
            response.headers["Allow"] = ", ".join(sorted(exc.allowed_methods))
        return response
    if exc.status == 413:
        return error_response(PayloadTooLarge("body: larger than the request size limit"))
    raise exc


def check_token(request: web.Request) -> None:
    token = request.app[SETTINGS].token
    if (
        token is not None
        and request.method != "OPTIONS"  # CORS preflights carry no credentials
        and request.path.startswith(PROTECTED_PREFIXES)
        and not token_matches(request.headers.get("Authorization", ""), token.get_secret_value())
    ):
        raise Unauthorized("missing or wrong bearer token (Authorization: Bearer <token>)")
