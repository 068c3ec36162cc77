"""Socket requests (seed 000): thin adapters over the REST service functions.

A dashboard may write over its socket instead of REST. Each request is parsed with the
same pydantic models as the matching REST route and handed to the same
``RegistryService`` method, so validation, errors, the transaction and the broadcast
after commit are REST's own; this module only unwraps the request and wraps the answer.

    request         reply event      data on success
    save_model      model_saved      the model (as ``POST /api/models`` returns it)
    update_model    model_updated    the model (as ``PATCH /api/models/{id}``)
    delete_model    model_deleted    ``{id}``
    load_config     config_loaded    ``{id, type, config}``
    save_config     config_saved     ``{id, type, config}`` (the config as stored)
    models:list     (ack only)       the list ``GET /api/models`` returns

The sender gets ``{success, data, error?: {code, message, details?}}`` twice: as the
ack (for ``emitWithAck``/``call``) and as the reply event (for the seed's page, which
listens instead of awaiting). python-socketio runs handlers concurrently, even for one
client; that is safe because the service serialises write transactions.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Annotated, Any, TypeVar

from pydantic import BaseModel, StringConstraints

from server.errors import BadRequest, ServiceError, to_service_error
from server.http.api import validate
from server.http.schemas import Body, ModelCreate, ModelFilter, ModelUpdate
from server.realtime.hub import SocketHub
from server.registry.service import RegistryService
from storage import models

log = logging.getLogger("modeldeck.socket")

M = TypeVar("M", bound=BaseModel)
Reply = dict[str, Any]
Perform = Callable[[Any], Awaitable[Any]]

# Any non-empty string: an id that names no model is a 404 from the service, like REST.
ModelId = Annotated[str, StringConstraints(min_length=1, max_length=200)]


class ModelRef(Body):
    """``delete_model {id}``."""

    id: ModelId


class ModelChange(ModelRef):
    """``update_model {id, updates}``; ``updates`` is a ``ModelUpdate``, checked apart
    so that its errors name ``updates.<field>``."""

    updates: dict[str, Any]


class ConfigRef(ModelRef):
    """``load_config {id, type}``: ``type`` is the config section."""

    type: str


class ConfigWrite(ConfigRef):
    """``save_config {id, type, config}``; the service itself rejects a non-object config,
    for REST and socket alike."""

    config: Any


def parse(model: type[M], data: Any, *, prefix: str = "") -> M:
    """Validate a request like REST validates a body, naming the request, not a body."""
    if not isinstance(data, dict):
        where = prefix.rstrip(".") or "request"
        raise BadRequest(f"{where}: must be a JSON object", details={"field": where})
    return validate(model, data, prefix=prefix)


def failure(exc: Exception) -> Reply:
    """The reply for a failed request, through the one error mapping REST uses too."""
    error = to_service_error(exc)
    if not isinstance(exc, ServiceError) and error.status >= 500:
        log.exception("socket request failed unexpectedly")
    return error.reply()


class SocketRequests:
    """The seed-000 requests of one app, bound to its hub and registry service; registered
    with every other socket handler in ``server.contexts``."""

    def __init__(self, hub: SocketHub, registry: RegistryService) -> None:
        self.hub = hub
        self.registry = registry

    def answered(self, reply_event: str, perform: Perform) -> Callable[..., Awaitable[Reply]]:
        """A handler running ``perform`` and answering the sender by event and by ack."""

        async def handler(sid: str, data: Any = None) -> Reply:
            try:
                reply: Reply = {"success": True, "data": await perform(data)}
            except Exception as exc:
                reply = failure(exc)
            await self.hub.sio.emit(reply_event, reply, to=sid)
            return reply

        return handler

    # -- requests: each returns the reply's ``data`` or raises ---------------------------

    async def save_model(self, data: Any) -> dict[str, Any]:
        record = await self.registry.create_model(parse(ModelCreate, data))
        return record.to_json()

    async def update_model(self, data: Any) -> dict[str, Any]:
        request = parse(ModelChange, data)
        updates = parse(ModelUpdate, request.updates, prefix="updates.")
        record = await self.registry.update_model(request.id, updates)
        return record.to_json()

    async def delete_model(self, data: Any) -> dict[str, Any]:
        request = parse(ModelRef, data)
        await self.registry.delete_model(request.id)
        return {"id": request.id}

    async def load_config(self, data: Any) -> dict[str, Any]:
        request = parse(ConfigRef, data)
        config = await self.registry.get_config(request.id, request.type)
        return {"id": request.id, "type": request.type, "config": config}

    async def save_config(self, data: Any) -> dict[str, Any]:
        request = parse(ConfigWrite, data)
        config = await self.registry.put_config(request.id, request.type, request.config)
        return {"id": request.id, "type": request.type, "config": config}

    async def list_models(self, sid: str, data: Any = None) -> list[dict[str, Any]] | Reply:
        """Ack the models (optionally filtered like ``GET /api/models``) so a page can
        sync without REST; a bad filter is acked as a failed reply."""
        try:
            query = ModelFilter() if data is None else parse(ModelFilter, data)
            items = await models.list_all(
                self.registry.db,
                type=query.type,
                provider_id=query.provider_id,
                enabled=query.enabled,
            )
        except Exception as exc:
            return failure(exc)
        return [m.to_json() for m in items]
