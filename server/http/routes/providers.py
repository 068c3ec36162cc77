"""REST: /api/providers."""

from __future__ import annotations

from aiohttp import web

from server.http.api import RouteTable, json_response
from server.http.responses import ProviderDeleted, ProviderRecord
from server.http.schemas import DeleteProviderQuery, ProviderCreate, ProviderUpdate
from server.keys import REGISTRY
from storage import providers

api = RouteTable("providers")


@api.get("/api/providers", summary="List providers", response=list[ProviderRecord])
async def list_providers(request: web.Request) -> web.Response:
    items = await providers.list_all(request.app[REGISTRY].db)
    return json_response([p.to_json() for p in items])


@api.post(
    "/api/providers",
    summary="Create a provider",
    body=ProviderCreate,
    status=201,
    response=ProviderRecord,
)
async def create_provider(request: web.Request, body: ProviderCreate) -> web.Response:
    record = await request.app[REGISTRY].create_provider(body)
    return json_response(record.to_json(), status=201)


@api.get("/api/providers/{id}", summary="Get a provider", response=ProviderRecord)
async def get_provider(request: web.Request) -> web.Response:
    record = await providers.get(request.app[REGISTRY].db, request.match_info["id"])
    return json_response(record.to_json())


@api.put(
    "/api/providers/{id}", summary="Update a provider", body=ProviderUpdate, response=ProviderRecord
)
@api.patch(
    "/api/providers/{id}",
    summary="Update some fields of a provider",
    body=ProviderUpdate,
    response=ProviderRecord,
)
async def update_provider(request: web.Request, body: ProviderUpdate) -> web.Response:
    record = await request.app[REGISTRY].update_provider(request.match_info["id"], body)
    return json_response(record.to_json())


@api.delete(
    "/api/providers/{id}",
    summary="Delete a provider (409 if it has models, unless cascade=true)",
    query=DeleteProviderQuery,
    response=ProviderDeleted,
)
async def delete_provider(request: web.Request, query: DeleteProviderQuery) -> web.Response:
    provider_id = request.match_info["id"]
    deleted = await request.app[REGISTRY].delete_provider(provider_id, cascade=query.cascade)
    return json_response(ProviderDeleted(id=provider_id, deleted=True, deleted_models=deleted))


@api.post("/api/providers/{id}/enable", summary="Enable a provider", response=ProviderRecord)
async def enable_provider(request: web.Request) -> web.Response:
    record = await request.app[REGISTRY].set_provider_enabled(request.match_info["id"], True)
    return json_response(record.to_json())


@api.post("/api/providers/{id}/disable", summary="Disable a provider", response=ProviderRecord)
async def disable_provider(request: web.Request) -> web.Response:
    record = await request.app[REGISTRY].set_provider_enabled(request.match_info["id"], False)
    return json_response(record.to_json())


@api.post(
    "/api/providers/{id}/reload",
    summary="Tell every listener to re-read a provider",
    response=ProviderRecord,
)
async def reload_provider(request: web.Request) -> web.Response:
    record = await request.app[REGISTRY].reload_provider(request.match_info["id"])
    return json_response(record.to_json())
