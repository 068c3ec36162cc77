"""REST: /api/models, their status and their config sections."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from server.http.api import RouteTable, json_response, read_json
from server.http.responses import ConfigView, ModelDeleted, ModelRecord, SectionConfig
from server.http.schemas import ModelCreate, ModelFilter, ModelUpdate
from server.keys import REGISTRY
from server.registry.config_sections import require_section
from storage import models
from storage.records import ConfigSection

api = RouteTable("models")


@api.get(
    "/api/models",
    summary="List models (filter by type, providerId, enabled)",
    query=ModelFilter,
    response=list[ModelRecord],
)
async def list_models(request: web.Request, query: ModelFilter) -> web.Response:
    items = await models.list_all(
        request.app[REGISTRY].db,
        type=query.type,
        provider_id=query.provider_id,
        enabled=query.enabled,
    )
    return json_response([m.to_json() for m in items])


@api.post(
    "/api/models", summary="Create a model", body=ModelCreate, status=201, response=ModelRecord
)
async def create_model(request: web.Request, body: ModelCreate) -> web.Response:
    record = await request.app[REGISTRY].create_model(body)
    return json_response(record.to_json(), status=201)


@api.get("/api/models/{id}", summary="Get a model", response=ModelRecord)
async def get_model(request: web.Request) -> web.Response:
    record = await models.get(request.app[REGISTRY].db, request.match_info["id"])
    return json_response(record.to_json())


@api.put("/api/models/{id}", summary="Update a model", body=ModelUpdate, response=ModelRecord)
@api.patch(
    "/api/models/{id}",
    summary="Update some fields of a model",
    body=ModelUpdate,
    response=ModelRecord,
)
async def update_model(request: web.Request, body: ModelUpdate) -> web.Response:
    record = await request.app[REGISTRY].update_model(request.match_info["id"], body)
    return json_response(record.to_json())


@api.delete(
    "/api/models/{id}", summary="Delete a model and its config sections", response=ModelDeleted
)
async def delete_model(request: web.Request) -> web.Response:
    model_id = request.match_info["id"]
    await request.app[REGISTRY].delete_model(model_id)
    return json_response(ModelDeleted(id=model_id, deleted=True))


@api.post(
    "/api/models/{id}/set-default",
    summary="Make a model the default of its type",
    response=ModelRecord,
)
async def set_default(request: web.Request) -> web.Response:
    record = await request.app[REGISTRY].set_default_model(request.match_info["id"])
    return json_response(record.to_json())


@api.post("/api/models/{id}/start", summary="Mark a model running", response=ModelRecord)
async def start_model(request: web.Request) -> web.Response:
    record = await request.app[REGISTRY].start_model(request.match_info["id"])
    return json_response(record.to_json())


@api.post("/api/models/{id}/stop", summary="Mark a model stopped", response=ModelRecord)
async def stop_model(request: web.Request) -> web.Response:
    record = await request.app[REGISTRY].stop_model(request.match_info["id"])
    return json_response(record.to_json())


@api.get(
    "/api/models/{id}/config/{section}",
    summary="Read one config section of a model",
    path_params={"section": ConfigSection},
    response=ConfigView,
)
async def get_config(request: web.Request) -> web.Response:
    model_id, section = request.match_info["id"], require_section(request.match_info["section"])
    config = await request.app[REGISTRY].get_config(model_id, section)
    return json_response({"id": model_id, "type": section, "config": config})


@api.put(
    "/api/models/{id}/config/{section}",
    summary="Replace one config section of a model (the body is the section's object)",
    path_params={"section": ConfigSection},
    body_doc=SectionConfig,
    response=ConfigView,
)
async def put_config(request: web.Request) -> web.Response:
    model_id, section = request.match_info["id"], require_section(request.match_info["section"])
    body: Any = await read_json(request)
    config = await request.app[REGISTRY].put_config(model_id, section, body)
    return json_response({"id": model_id, "type": section, "config": config})
