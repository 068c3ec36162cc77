"""REST read models for frontends: /api/model-registry and /v1/models (seed 003/004)."""

from __future__ import annotations

from aiohttp import web

from server.errors import ResourceNotFound
from server.http.api import RouteTable, raw_json_response
from server.http.responses import ModelRegistry, V1Model
from server.http.schemas import RegistryTypeFilter
from server.keys import REGISTRY_CACHE

api = RouteTable("registry")


@api.get(
    "/api/model-registry",
    summary="Enabled providers with their enabled models",
    response=ModelRegistry,
)
async def model_registry(request: web.Request) -> web.Response:
    return raw_json_response(await request.app[REGISTRY_CACHE].model_registry())


@api.get(
    "/v1/models",
    summary="Models for frontends, seed 004's format",
    query=RegistryTypeFilter,
    response=list[V1Model],
)
async def v1_models(request: web.Request, query: RegistryTypeFilter) -> web.Response:
    return raw_json_response(await request.app[REGISTRY_CACHE].v1_models(query.type))


@api.get("/v1/models/{id}", summary="One model, seed 004's format", response=V1Model)
async def v1_model(request: web.Request) -> web.Response:
    model_id = request.match_info["id"]
    body = await request.app[REGISTRY_CACHE].v1_model(model_id)
    if body is None:
        raise ResourceNotFound(f"Model '{model_id}' not found", details={"field": "id"})
    return raw_json_response(body)
