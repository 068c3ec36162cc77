"""REST: the local Ollama (status, installed models, VRAM, catalog) and pull jobs.

Model names keep their tag (``llama3.2:3b``; none means ``:latest``) and may hold
slashes (``hf.co/user/repo:Q4_K_M``), so ``{name}`` matches across ``/``; the VRAM
route is registered first, so ``…/{name}/vram`` is the estimate, never a model
called ``vram``. Errors from Ollama map in ``server.errors``: down -> 503.
"""

from __future__ import annotations

import functools
from typing import Annotated, Literal
from urllib.parse import unquote

from aiohttp import web
from pydantic import Field, StringConstraints

from server.errors import ResourceConflict, to_service_error
from server.http.api import Handler, RouteTable, json_response
from server.http.responses import (
    CatalogEntry,
    InstalledModels,
    OllamaModelDeleted,
    OllamaModelDetails,
    OllamaStatus,
    PullJob,
    PullJobs,
    VramEstimate,
)
from server.http.schemas import PY_WHITESPACE, Body, Query
from server.keys import OLLAMA, PULLS
from server.ollama.catalog import load_catalog
from server.ollama.client import OllamaError

#: Ollama's ``[host/][namespace/]model[:tag]`` (``server.ollama_client._check_part``), so
#: the document promises exactly the names that are not refused as invalid.
#: Surrounding whitespace is stripped (``str.strip``) before the check, hence at both ends.
MODEL_NAME_PATTERN = (
    f"^[{PY_WHITESPACE}]*"
    r"(?:[A-Za-z0-9_][A-Za-z0-9_.:-]{0,349}/[A-Za-z0-9_][A-Za-z0-9_-]{0,79}/"
    r"|[A-Za-z0-9_][A-Za-z0-9_-]{0,79}/)?"
    r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,79}(?::[A-Za-z0-9_][A-Za-z0-9_.-]{0,79})?"
    f"[{PY_WHITESPACE}]*$"
)
ModelName = Annotated[
    str,
    StringConstraints(min_length=1, max_length=500, strip_whitespace=True),
    Field(json_schema_extra={"pattern": MODEL_NAME_PATTERN}),
]
#: ``{name}`` in a path: the same names, documented with the same pattern.
NAME_PARAM = {"name": Annotated[str, Field(pattern=MODEL_NAME_PATTERN)]}


class OllamaRoutes(RouteTable):
    """Routes whose ``{name}`` may contain ``/`` (OpenAPI still shows plain ``{name}``),
    and whose Ollama errors become service errors here: an Ollama that is down is an
    expected answer (503), not an unhandled exception to log with a traceback."""

    def add_to(self, app: web.Application) -> list[web.AbstractRoute]:
        return [
            app.router.add_route(s.method, _route_path(s.path), _ollama_errors(s.handler))
            if s.method != "GET"
            else app.router.add_get(_route_path(s.path), _ollama_errors(s.handler))
            for s in self.specs
        ]


def _route_path(path: str) -> str:
    """``{name}`` matches any name, slashes included; as the last segment, not one ending
    in ``/vram``: that is the estimate's resource, so ``DELETE …/{name}/vram`` is a 405
    naming GET, not a delete of a model called "x/vram"."""
    if path.endswith("{name}"):
        return path.replace("{name}", r"{name:(?!.*/vram$).+}")
    return path.replace("{name}", "{name:.+}")


def _ollama_errors(handler: Handler) -> Handler:
    @functools.wraps(handler)
    async def wrapper(request: web.Request) -> web.StreamResponse:
        try:
            return await handler(request)
        except OllamaError as exc:
            raise to_service_error(exc) from exc

    return wrapper


api = OllamaRoutes("ollama")

#: Routes that ask Ollama itself answer 503 while it is down (or fails).
_DOWN = {503: ("Ollama is unreachable or failed; the message says which", None)}


class VramQuery(Query):
    context: int | None = Field(None, gt=0, le=16_777_216, description="Tokens of context")


class CatalogQuery(Query):
    """``category`` is checked by the catalog itself (a 422 listing the valid ones)."""

    category: (
        Annotated[str, Field(json_schema_extra={"enum": load_catalog().category_ids})] | None
    ) = None


class PullCreate(Body):
    model: ModelName


class PullFilter(Query):
    status: (
        Literal["queued", "downloading", "verifying", "completed", "failed", "cancelled"] | None
    ) = None
    model: ModelName | None = None
    limit: int = Field(100, ge=1, le=500)


def _name(request: web.Request) -> str:
    return unquote(request.match_info["name"])


# -- Ollama ---------------------------------------------------------------------------


@api.get(
    "/api/ollama/status",
    summary="Whether Ollama answers, its version and URL",
    response=OllamaStatus,
)
async def status(request: web.Request) -> web.Response:
    body = await request.app[OLLAMA].status()
    return json_response(
        OllamaStatus.model_validate({**body, "pulls": request.app[PULLS].counts()})
    )


@api.get(
    "/api/ollama/models",
    summary="Installed models with disk usage",
    response=InstalledModels,
    also=_DOWN,
)
async def list_models(request: web.Request) -> web.Response:
    listing = (await request.app[OLLAMA].listing()).to_json()
    return json_response(InstalledModels.model_validate(listing))


@api.get(
    "/api/ollama/models/{name}/vram",
    path_params=NAME_PARAM,
    summary="VRAM estimate, term by term, at the model's context and ?context=",
    query=VramQuery,
    response=VramEstimate,
    also=_DOWN,
)
async def vram(request: web.Request, query: VramQuery) -> web.Response:
    estimate = await request.app[OLLAMA].vram(_name(request), query.context)
    return json_response(estimate)


@api.get(
    "/api/ollama/models/{name}",
    path_params=NAME_PARAM,
    summary="One installed model's details (/api/show)",
    response=OllamaModelDetails,
    also=_DOWN,
)
async def model_details(request: web.Request) -> web.Response:
    details = await request.app[OLLAMA].details(_name(request))
    return json_response(OllamaModelDetails.model_validate(details))


@api.delete(
    "/api/ollama/models/{name}",
    path_params=NAME_PARAM,
    summary="Delete an installed model",
    response=OllamaModelDeleted,
    also=_DOWN,
)
async def delete_model(request: web.Request) -> web.Response:
    name = _name(request)
    job = request.app[PULLS].active_job(name)
    if job is not None:
        raise ResourceConflict(
            f"Model '{job.model}' is being pulled (job {job.id}); cancel the pull first",
            details={"field": "name", "jobId": job.id},
        )
    return json_response(OllamaModelDeleted.model_validate(await request.app[OLLAMA].delete(name)))


@api.get(
    "/api/ollama/catalog",
    summary="Catalog of popular models (?category=chat|code|vision|embedding)",
    query=CatalogQuery,
    response=list[CatalogEntry],
)
async def catalog(request: web.Request, query: CatalogQuery) -> web.Response:
    return json_response(await request.app[OLLAMA].catalog(query.category))


# -- pulls --------------------------------------------------------------------------


@api.post(
    "/api/ollama/pulls",
    summary="Start a pull (202), or get the model's running pull (200)",
    body=PullCreate,
    status=202,
    response=PullJob,
    also={200: ("The model is being pulled already: its running job", PullJob), **_DOWN},
)
async def start_pull(request: web.Request, body: PullCreate) -> web.Response:
    job, created = await request.app[PULLS].request(body.model)
    return json_response(PullJob.model_validate(job.view()), status=202 if created else 200)


@api.get(
    "/api/ollama/pulls", summary="Pull jobs, newest first", query=PullFilter, response=PullJobs
)
async def list_pulls(request: web.Request, query: PullFilter) -> web.Response:
    jobs = await request.app[PULLS].recent(
        status=query.status, model=query.model, limit=query.limit
    )
    return json_response(
        PullJobs.model_validate({"jobs": [j.view() for j in jobs], "total": len(jobs)})
    )


@api.get("/api/ollama/pulls/{id}", summary="One pull job", response=PullJob)
async def get_pull(request: web.Request) -> web.Response:
    job = await request.app[PULLS].get(request.match_info["id"])
    return json_response(PullJob.model_validate(job.view()))


@api.delete(
    "/api/ollama/pulls/{id}",
    summary="Cancel a queued or running pull (409 if over)",
    response=PullJob,
)
async def cancel_pull(request: web.Request) -> web.Response:
    job = await request.app[PULLS].cancel(request.match_info["id"])
    return json_response(PullJob.model_validate(job.view()))
