"""/openapi.json describes every REST route, from the models the routes validate with."""

from __future__ import annotations

import re

from tests.conftest import Running


async def test_every_registered_route_is_documented(server: Running) -> None:
    status, document = await server.api.get("/openapi.json")
    assert status == 200 and document["openapi"].startswith("3.1")
    documented = {
        (method.upper(), path) for path, ops in document["paths"].items() for method in ops
    }
    registered = set()
    for route in server.app.router.routes():
        path = route.resource.canonical if route.resource else ""
        if route.method in ("HEAD", "OPTIONS", "*") or path.startswith("/socket.io"):
            continue
        registered.add((route.method, path))
    assert registered, "no routes found"
    assert registered <= documented, registered - documented


async def test_request_bodies_come_from_the_pydantic_models(server: Running) -> None:
    _, document = await server.api.get("/openapi.json")
    create = document["paths"]["/api/providers"]["post"]["requestBody"]["content"]
    ref = create["application/json"]["schema"]["$ref"]
    schema = document["components"]["schemas"][ref.rsplit("/", 1)[1]]
    assert set(schema["required"]) == {"name", "sdkId"}
    assert "apiKey" in schema["properties"]
    params = {p["name"] for p in document["paths"]["/api/models"]["get"]["parameters"]}
    assert params == {"type", "providerId", "enabled"}
    path_params = document["paths"]["/api/models/{id}/config/{section}"]["get"]["parameters"]
    assert [p["name"] for p in path_params] == ["id", "section"]
    assert all(re.match(r"^[a-z]+_", op["operationId"]) for op in _operations(document))


def _operations(document: dict) -> list[dict]:
    return [op for ops in document["paths"].values() for op in ops.values()]
