"""The router's aiohttp app: OpenAI's ``/v1`` routes over the registry's providers.

Clients name a model by modeldeck's model ``id``. The router finds its enabled
provider, swaps in the provider's name for the model (see ``Route.upstream_model``)
and forwards the request to the provider's ``baseUrl``; every provider is spoken to as
an OpenAI-compatible API. Errors the router raises itself are OpenAI-shaped
(``{"error": {message, type, param, code}}``) so OpenAI clients report them properly.
"""

from __future__ import annotations

import asyncio
import gc
import hmac
import logging
import os
import signal
from collections.abc import AsyncIterator
from datetime import datetime
from typing import Any

import orjson
from aiohttp import web
from aiohttp.typedefs import Handler

from server.browser_guard import BrowserGuard, setup_cors
from server.errors import ServiceError
from server.registry.upstreams import upstream_refusal
from server.router.forwarding import Forwarder, openai_error
from server.router.registry_view import RegistryView, Route
from server.settings import Settings
from server.supervisor.config import PARENT_PID_ENV
from storage.secrets import SecretBox

PARENT_CHECK_SECONDS = 1.0

log = logging.getLogger("modeldeck.router")

SETTINGS = web.AppKey("settings", Settings)
GUARD = web.AppKey("browser_guard", BrowserGuard)
VIEW = web.AppKey("registry_view", RegistryView)
FORWARDER = web.AppKey("forwarder", Forwarder)

#: Which model types each forwarded endpoint serves.
ENDPOINT_TYPES = {
    "/chat/completions": ("chat",),
    "/completions": ("chat",),
    "/embeddings": ("embedding",),
}


def _secret_box(settings: Settings) -> SecretBox | None:
    """The server's key; never created here (a reader must not invent a new key)."""
    if settings.secret_key is not None:
        return SecretBox(settings.secret_key.get_secret_value())
    if settings.key_file.exists():
        return SecretBox(settings.key_file.read_bytes().strip())
    return None


@web.middleware
async def openai_errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    """aiohttp's own 404/405/413 as OpenAI-shaped errors, never an HTML page."""
    try:
        return await handler(request)
    except web.HTTPRequestEntityTooLarge:
        limit = request.app[SETTINGS].router_max_body_bytes
        return openai_error(413, f"Request body is larger than {limit} bytes", code="too_large")
    except web.HTTPException as exc:
        if exc.status == 404:
            message = f"Unknown request URL: {request.method} {request.path}"
            return openai_error(404, message, code="unknown_url")
        if exc.status == 405:
            return openai_error(405, f"Method {request.method} not allowed on {request.path}")
        raise


@web.middleware
async def browser_safety(request: web.Request, handler: Handler) -> web.StreamResponse:
    """The server's Host, Origin and JSON-body rules: a web page must not reach a provider."""
    try:
        request.app[GUARD].check(
            request.method,
            request.headers,
            has_body=request.body_exists,
            content_type=request.content_type,
        )
    except ServiceError as exc:
        return openai_error(exc.status, exc.message, code=exc.code)
    return await handler(request)


@web.middleware
async def bearer_auth(request: web.Request, handler: Handler) -> web.StreamResponse:
    """With a modeldeck token set, ``/v1`` needs it; it is never sent to a provider."""
    token = request.app[SETTINGS].token
    if token is not None and request.path.startswith("/v1/"):
        scheme, _, given = request.headers.get("Authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not hmac.compare_digest(
            given.strip(), token.get_secret_value()
        ):
            message = "Incorrect API key provided: use your modeldeck token as the API key"
            return openai_error(401, message, code="invalid_api_key")
    return await handler(request)


def _created(iso: str) -> int:
    return int(datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp())


def _model_entry(route: Route) -> dict[str, Any]:
    return {
        "id": route.model.id,
        "object": "model",
        "created": _created(route.model.created_at),
        "owned_by": route.provider.id,
    }


def _not_found(model_id: str) -> web.Response:
    return openai_error(
        404, f"The model '{model_id}' does not exist or is not enabled",
        param="model", code="model_not_found",
    )  # fmt: skip


async def list_models(request: web.Request) -> web.Response:
    routes = request.app[VIEW].registry.routes.values()
    body = {"object": "list", "data": [_model_entry(r) for r in routes]}
    return web.Response(body=orjson.dumps(body), content_type="application/json")


async def get_model(request: web.Request) -> web.Response:
    model_id = request.match_info["model"]
    route = request.app[VIEW].route(model_id)
    if route is None:
        return _not_found(model_id)
    return web.Response(body=orjson.dumps(_model_entry(route)), content_type="application/json")


async def health(request: web.Request) -> web.Response:
    registry = request.app[VIEW].registry
    body = {"status": "ok", "pid": os.getpid(), "models": len(registry.routes)}
    return web.Response(body=orjson.dumps(body), content_type="application/json")


def forward_handler(path: str) -> Handler:
    """A handler that forwards ``/v1{path}`` for models of ``ENDPOINT_TYPES[path]``."""
    allowed = ENDPOINT_TYPES[path]

    async def handler(request: web.Request) -> web.StreamResponse:
        try:
            body = orjson.loads(await request.read())
        except orjson.JSONDecodeError as exc:
            return openai_error(400, f"We could not parse the JSON body of your request: {exc}")
        if not isinstance(body, dict):
            return openai_error(400, "The request body must be a JSON object")
        model_id = body.get("model")
        if not isinstance(model_id, str) or not model_id:
            return openai_error(400, "You must provide a model parameter", param="model")
        route = request.app[VIEW].route(model_id)
        if route is None:
            return _not_found(model_id)
        if route.model.type not in allowed:
            message = (
                f"The model '{model_id}' is a {route.model.type} model; /v1{path} serves "
                f"{' and '.join(allowed)} models"
            )
            return openai_error(400, message, param="model", code="model_not_supported")
        provider = route.provider
        if not provider.base_url:
            message = f"Provider '{provider.id}' has no baseUrl; set one to route '{model_id}'"
            return openai_error(424, message, code="provider_not_configured")
        refused = upstream_refusal(
            provider.base_url, allow_link_local=request.app[SETTINGS].allow_link_local_upstreams
        )
        if refused is not None:  # a row written before the rule, or by hand
            message = f"Provider '{provider.id}' baseUrl is refused: {refused}"
            return openai_error(424, message, code="provider_not_configured")
        if route.api_key is None and (route.key_error or route.needs_key):
            why = f"its key is unreadable ({route.key_error})" if route.key_error else "no apiKey"
            message = f"Provider '{provider.id}' has {why}; set one with PUT /api/providers/{{id}}"
            return openai_error(424, message, code="missing_api_key")
        body["model"] = route.upstream_model
        return await request.app[FORWARDER].forward(request, route, path, body)

    return handler


async def _resources(app: web.Application) -> AsyncIterator[None]:
    settings = app[SETTINGS]
    view = RegistryView(settings.db, _secret_box(settings))
    forwarder = Forwarder(
        read_timeout=settings.router_timeout,
        allow_link_local=settings.allow_link_local_upstreams,
    )
    await view.open()
    await forwarder.open()
    app[VIEW], app[FORWARDER] = view, forwarder
    try:
        yield
    finally:
        await forwarder.close()
        await view.close()


def create_router_app(settings: Settings) -> web.Application:
    middlewares = [openai_errors, browser_safety] + (
        [bearer_auth] if settings.token is not None else []
    )
    app = web.Application(middlewares=middlewares, client_max_size=settings.router_max_body_bytes)
    app[SETTINGS] = settings
    app[GUARD] = BrowserGuard(settings)
    routes = [
        app.router.add_get("/health", health),
        app.router.add_get("/v1/models", list_models),
        app.router.add_get("/v1/models/{model}", get_model),
    ]
    for path in ENDPOINT_TYPES:
        routes.append(app.router.add_post(f"/v1{path}", forward_handler(path)))
    setup_cors(app, settings.cors_origins, routes)
    app.cleanup_ctx.append(_resources)
    app.cleanup_ctx.append(_exit_with_parent)
    return app


async def _exit_with_parent(app: web.Application) -> AsyncIterator[None]:
    """Stop when the supervising server is gone (a kill -9 runs none of its cleanup).

    Children run in their own session so signals to the server's group miss them; the
    server passes its pid, and a changed parent pid means it died and we were adopted.
    """
    parent = os.environ.get(PARENT_PID_ENV)
    task: asyncio.Task[None] | None = None
    if parent and parent.isdigit():

        async def watch() -> None:
            while os.getppid() == int(parent):  # noqa: ASYNC110 - no event for this
                await asyncio.sleep(PARENT_CHECK_SECONDS)
            log.warning("supervising server %s is gone; stopping", parent)
            os.kill(os.getpid(), signal.SIGTERM)

        task = asyncio.create_task(watch())
    yield
    if task is not None:
        task.cancel()


def run_router(settings: Settings) -> None:
    """Serve until SIGTERM/SIGINT; in-flight requests get ``shutdown_timeout`` to finish."""

    async def announce(app: web.Application) -> None:
        # Everything allocated so far lives as long as the process: keep it out of the
        # collector's full passes, which would otherwise stall requests for milliseconds.
        gc.freeze()
        log.info(
            "router on http://%s:%d (db %s, %d models)",
            settings.host, settings.router_port, settings.db, len(app[VIEW].registry.routes),
        )  # fmt: skip

    app = create_router_app(settings)
    app.on_startup.append(announce)
    web.run_app(
        app,
        host=settings.host,
        port=settings.router_port,
        shutdown_timeout=settings.shutdown_timeout,
        access_log=None,
        print=None,
        handle_signals=True,
        # A client that hangs up cancels its handler, which closes the provider call:
        # an abandoned completion stops generating (and costing) at once.
        handler_cancellation=True,
    )
