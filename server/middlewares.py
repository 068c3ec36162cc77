"""Request middlewares: errors to JSON, bearer-token auth, one log line per request."""

from __future__ import annotations

import hmac
import logging
import time

from aiohttp import web

from server.errors import (
    MethodNotAllowed,
    NotFoundError,
    PayloadTooLarge,
    ServiceError,
    Unauthorized,
    to_service_error,
)
from server.http_api import json_response
from server.keys import METRICS, SETTINGS

log = logging.getLogger("modeldeck.http")

PROTECTED_PREFIXES = ("/api/", "/v1/", "/openapi.json", "/metrics")


def error_response(error: ServiceError) -> web.Response:
    return json_response(error.body(), status=error.status)


@web.middleware
async def access_log(request: web.Request, handler: web.Handler) -> web.StreamResponse:
    started = time.perf_counter()
    response = await handler(request)
    request.app[METRICS].observe(request, response.status, started)
    log.info(
        "%s %s %d %.1fms",
        request.method,
        request.path_qs,
        response.status,
        (time.perf_counter() - started) * 1000,
    )
    return response


@web.middleware
async def errors(request: web.Request, handler: web.Handler) -> web.StreamResponse:
    """Every failure becomes ``{"error": {code, message, details}}``; never an HTML page."""
    try:
        return await handler(request)
    except web.HTTPException as exc:
        if exc.status == 404 and not request.path.startswith("/socket.io"):
            return error_response(NotFoundError(f"No route for {request.method} {request.path}"))
        if exc.status == 405:
            message = f"Method {request.method} not allowed on {request.path}"
            return error_response(MethodNotAllowed(message))
        if exc.status == 413:
            return error_response(PayloadTooLarge("body: larger than the request size limit"))
        raise
    except Exception as exc:
        error = to_service_error(exc)
        if error.code == ServiceError.code:  # not a known error: a bug worth a traceback
            log.exception("unhandled error on %s %s", request.method, request.path)
        return error_response(error)


@web.middleware
async def bearer_auth(request: web.Request, handler: web.Handler) -> web.StreamResponse:
    token = request.app[SETTINGS].token
    if (
        token is not None
        and request.method != "OPTIONS"  # CORS preflights carry no credentials
        and request.path.startswith(PROTECTED_PREFIXES)
        and not token_matches(request.headers.get("Authorization", ""), token.get_secret_value())
    ):
        raise Unauthorized("missing or wrong bearer token (Authorization: Bearer <token>)")
    return await handler(request)


def token_matches(header: str, token: str) -> bool:
    scheme, _, given = header.partition(" ")
    return scheme.lower() == "bearer" and hmac.compare_digest(given.strip(), token)
