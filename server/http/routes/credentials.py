"""REST: /api/credentials/{provider}, and seed 002's /api/qwen/credentials alias."""

from __future__ import annotations

from aiohttp import web

from server.http.api import RouteTable, json_response, validate
from server.http.responses import CredentialRecord
from server.http.schemas import CredentialsPath, CredentialsPut, Slug
from server.keys import REGISTRY

api = RouteTable("credentials")


def _provider(request: web.Request) -> str:
    """The provider key, held to the slug rules of ids (422 naming ``provider``)."""
    given = {"provider": request.match_info.get("provider", "qwen")}
    return validate(CredentialsPath, given).provider


async def _status(request: web.Request) -> web.Response:
    record = await request.app[REGISTRY].credentials_status(_provider(request))
    return json_response(record.to_json())


async def _put(request: web.Request, body: CredentialsPut) -> web.Response:
    record = await request.app[REGISTRY].put_credentials(_provider(request), body)
    return json_response(record.to_json())


async def _delete(request: web.Request) -> web.Response:
    record = await request.app[REGISTRY].delete_credentials(_provider(request))
    return json_response(record.to_json())


for path in ("/api/credentials/{provider}", "/api/qwen/credentials"):
    # the provider key is documented with the slug rules it is held to
    params = {"provider": Slug} if "{provider}" in path else {}
    api.get(
        path,
        summary="Credential status (never the secret)",
        response=CredentialRecord,
        path_params=params,
    )(_status)
    api.post(
        path,
        summary="Set credentials",
        body=CredentialsPut,
        response=CredentialRecord,
        path_params=params,
    )(_put)
    api.delete(
        path, summary="Delete credentials", response=CredentialRecord, path_params=params
    )(_delete)
