"""Socket requests for pulls: ``pull:subscribe``, ``pull:unsubscribe``, ``pull:start``.

    request                   ack
    pull:subscribe {model}    the model's current job (active, else its latest), or null
    pull:unsubscribe {model}  {model, subscribed: false}
    pull:start {model}        the job (the running one if the model is already pulling)

A failed request is acked ``{"success": false, "data": null, "error": {code, message,
details?}}``, REST's error body plus the seed's ``success``, through the same mapping.
``pull:start`` also joins the room: whoever starts a pull wants to watch it.

Subscribing joins the room *before* the snapshot is read, with no await in between,
and the ack is queued before any later broadcast: so every ``pull:progress`` a client
receives after its ack is at least as new as the snapshot, and none is missed.
"""

from __future__ import annotations

from typing import Any

from server.errors import BadRequest, to_service_error
from server.ollama.client import normalize_model_name
from server.ollama.pool import PullPool
from server.ollama.progress import pull_room
from server.realtime.hub import SocketHub

Ack = dict[str, Any] | None


def _model_of(data: Any) -> str:
    model = data.get("model") if isinstance(data, dict) else None
    if not isinstance(model, str):
        raise BadRequest("model: a model name is required, e.g. {model: 'llama3.2:3b'}",
                         details={"field": "model"})  # fmt: skip
    return model


class PullRequests:
    """The pull socket handlers of one app, bound to its hub and pool; registered with
    every other socket handler in ``server.contexts``."""

    def __init__(self, hub: SocketHub, pool: PullPool) -> None:
        self.hub = hub
        self.pool = pool

    async def subscribe(self, sid: str, data: Any = None) -> Ack:
        try:
            model = _model_of(data)
            room = pull_room(model)
            await self.hub.sio.enter_room(sid, room)
            active = self.pool.active_job(model)  # no await since entering the room
            if active is not None:
                return active.view()
            latest = await self.pool.latest(model)
        except Exception as exc:
            return to_service_error(exc).reply()
        return latest.view() if latest is not None else None

    async def unsubscribe(self, sid: str, data: Any = None) -> Ack:
        try:
            model = _model_of(data)
            await self.hub.sio.leave_room(sid, pull_room(model))
        except Exception as exc:
            return to_service_error(exc).reply()
        return {"model": normalize_model_name(model), "subscribed": False}

    async def start(self, sid: str, data: Any = None) -> Ack:
        """Like ``POST /api/ollama/pulls``: 503 when Ollama is down, else the job."""
        try:
            model = _model_of(data)
            job, _ = await self.pool.request(model)
            await self.hub.sio.enter_room(sid, pull_room(model))
        except Exception as exc:
            return to_service_error(exc).reply()
        return job.view()
